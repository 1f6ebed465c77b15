"""The JSON Schema of ``parity.toml`` (from the config model, as docs/results.schema.json is
from the results model), and wrong keys explained: the file, the line, the closest valid key.

Why: editors (Taplo, via ``#:schema``) check a config as it is typed, and a misspelt key in
a run should say where it is and what was meant, not only that it is not allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = [
    "SCHEMA_FILE",
    "closest_key",
    "explain",
    "json_schema",
    "key_line",
    "model_of",
    "schema_main",
]

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "parity.schema.json"


def schema_main(argv: list[str] | None, path: Path, schema: str) -> int:
    """A generated schema's ``python -m`` entry: ``--write`` regenerates ``path`` (the file a
    test compares with the model), no argument prints the schema."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        path.write_text(schema, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    sys.stdout.write(schema)
    return 0


def json_schema(root: type[BaseModel]) -> str:
    schema = root.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "parity.toml"
    rule = schema["$defs"]["NormalizeRule"]
    # the plain status form needs neither location nor action
    rule["required"] = [k for k in rule.get("required", []) if k not in ("location", "action")]
    rule["anyOf"] = [{"required": ["location", "action"]}, {"required": ["status"]}]
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (X, X | None, list[X], dict[str, X])."""
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for item in candidates:
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
        for inner in getattr(item, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the last part of ``loc`` (dict keys and list indexes skipped)."""
    model: type[BaseModel] | None = root
    skip = False
    for part in loc[:-1]:
        if skip or isinstance(part, int):
            skip = False
            continue
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        text = repr(annotation)
        model = model_of(annotation)
        skip = text.startswith("dict[") or "dict[" in text.split("|")[0]
    return model


def closest_key(root: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    model = _model_at(root, loc)
    if model is None:
        return None
    names = list(model.model_fields)
    match = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
    return match[0] if match else None


def key_line(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line where the last key of ``loc`` is written: after its table's header
    when the table can be found, else its first assignment or table header anywhere."""
    key = re.escape(str(loc[-1]))
    lines = text.splitlines()
    tables = [str(p) for p in loc[:-1] if isinstance(p, str)]
    start = 0
    if tables:
        header = re.compile(r"^\s*\[\[?\s*" + r"\s*\.\s*".join(map(re.escape, tables)) + r"\s*\]")
        nth = next((p for p in loc[:-1] if isinstance(p, int)), 0)
        hits = [i for i, line in enumerate(lines) if header.match(line)]
        if hits:
            start = hits[min(nth, len(hits) - 1)]
    assign = re.compile(r"(^|[{,\s])\s*\"?" + key + r"\"?\s*=")
    table = re.compile(r"^\s*\[\[?[^\]]*\b" + key + r"\b")
    for i in range(start, len(lines)):
        if assign.search(lines[i]) or table.match(lines[i]):
            return i + 1
    for i, line in enumerate(lines):
        if assign.search(line) or table.match(line):
            return i + 1
    return None


def explain(root: type[BaseModel], text: str, error: dict[str, Any], place: str) -> str:
    """One validation error as ``place (line N): message (did you mean ...?)``."""
    loc = tuple(error["loc"])
    line = key_line(text, loc) if loc else None
    message = f"{place}{f' (line {line})' if line else ''}: {error['msg']}"
    if error.get("type") == "extra_forbidden" and loc:
        near = closest_key(root, loc)
        if near:
            message += f" (did you mean {near!r}?)"
    return message
