"""OpenAPI Overlay documents (the OAI Overlay Specification 1.0) applied to the contract.

Users cannot always edit the contract they are given; an overlay listed in ``parity.toml``
(``overlays = ["depth.overlay.yaml"]``) adds what parity needs to go deep: examples, formats,
links. Each action's ``target`` is a JSONPath; ``update`` is merged into every node it
selects (objects recursively, arrays appended), ``remove: true`` deletes them. Actions apply
in order. A target that selects nothing is an error naming the overlay and the action, so a
typo never silently weakens a run.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse

from harness.errors import HarnessError

__all__ = ["apply_overlay", "load_overlay"]


def _merge(node: Any, update: Any) -> Any:
    if isinstance(node, dict) and isinstance(update, dict):
        for key, value in update.items():
            node[key] = _merge(node[key], value) if key in node else copy.deepcopy(value)
        return node
    if isinstance(node, list) and isinstance(update, list):
        node.extend(copy.deepcopy(update))
        return node
    return copy.deepcopy(update)


def load_overlay(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read overlay: {exc.strerror}", kind="input") from exc
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: invalid YAML: {exc}", kind="input") from exc
    if not isinstance(data, dict) or not str(data.get("overlay", "")).startswith("1."):
        raise HarnessError(f"{path}: not an OpenAPI Overlay 1.x document", kind="input")
    if not isinstance(data.get("actions"), list) or not data["actions"]:
        raise HarnessError(f"{path}: 'actions' must be a non-empty list", kind="input")
    return data


def apply_overlay(document: dict[str, Any], overlay: dict[str, Any], source: Path) -> None:
    """Apply ``overlay``'s actions to ``document`` in place."""
    for index, action in enumerate(overlay["actions"]):
        where = f"{source}: actions[{index}]"
        if not isinstance(action, dict) or not isinstance(action.get("target"), str):
            raise HarnessError(f"{where}: an action needs a 'target' JSONPath", kind="input")
        try:
            expr = parse(action["target"])
        except JSONPathError as exc:
            raise HarnessError(
                f"{where}: invalid JSONPath {action['target']!r}: {exc}", kind="input"
            ) from exc
        matches = expr.find(document)
        if not matches:
            raise HarnessError(
                f"{where}: target {action['target']!r} selects nothing in the contract",
                kind="input",
            )
        if action.get("remove") is True:
            expr.filter(lambda _value: True, document)
        elif "update" in action:
            for match in matches:
                merged = _merge(match.value, action["update"])
                if merged is not match.value:
                    match.full_path.update(document, merged)
        else:
            raise HarnessError(f"{where}: an action needs 'update' or 'remove'", kind="input")
