"""A/A noise: what differs between two runs of the legacy itself, per place and per request.

Calibrating sends every stateless request to a second legacy too; an A/B difference is
dropped only where the same place differed A/A on that very request, so a noisy field
cannot hide a real regression elsewhere. A saved calibration can be reused later: a whole
group is then suppressed only where the A/A rate explains its A/B rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.findings import ID_KIND, Findings
from harness.errors import HarnessError
from harness.models import Difference

__all__ = ["NoiseLedger"]

Key = tuple[str, str, str]


@dataclass
class NoiseLedger:
    margin: float = 0.05
    entries: dict[Key, dict[str, Any]] = field(default_factory=dict)
    # ``[compare] learn_headers``: header name -> why it is noise (two answers of the legacy
    # to one request disagreed on it); ``"*"`` leaves these out for the rest of the run
    headers: dict[str, str] = field(default_factory=dict)
    # operations whose first safe case asked the legacy twice already
    header_probed: set[str] = field(default_factory=set)

    def learn_headers(self, where: str, differing: dict[str, str]) -> list[str]:
        """Record the headers two answers of the legacy disagreed on; the new names."""
        new = [name for name in differing if name not in self.headers]
        for name in new:
            self.headers[name] = f"{where}: {differing[name]}"
        return new

    def _entry(self, op_id: str, d: Difference) -> dict[str, Any]:
        return self.entries.setdefault(
            (op_id, d.location, d.kind), {"aa": 0, "ab": 0, "suppressed": 0, "evidence": ""}
        )

    def suppress(self, op_id: str, ab: list[Difference], aa: list[Difference]) -> list[Difference]:
        """Per request: drop an A/B difference only if the same place differed A/A too."""
        noisy = {(d.location, d.kind) for d in aa}
        for d in aa:
            entry = self._entry(op_id, d)
            entry["aa"] += 1
            if not entry["evidence"]:
                entry["evidence"] = d.summary
        kept: list[Difference] = []
        for d in ab:
            if (d.location, d.kind) in noisy:
                entry = self._entry(op_id, d)
                entry["ab"] += 1
                entry["suppressed"] += 1
                continue
            if (op_id, d.location, d.kind) in self.entries:
                self.entries[(op_id, d.location, d.kind)]["ab"] += 1
            kept.append(d)
        return kept

    def suppress_known(self, op_id: str, ab: list[Difference]) -> list[Difference]:
        """An exchange without an A/A twin (a write kept for what follows it: sequences,
        growth): drop a difference at a place of this operation that differed A/A earlier in
        the run. Coarser than :meth:`suppress` (no twin to ask), and only where the run has
        seen the legacy disagree with itself."""
        kept: list[Difference] = []
        for d in ab:
            entry = self.entries.get((op_id, d.location, d.kind))
            if entry is not None and entry["aa"] > 0:
                entry["ab"] += 1
                entry["suppressed"] += 1
                continue
            kept.append(d)
        return kept

    def apply_saved(self, path: Path, findings: Findings, cases: dict[str, int]) -> None:
        """``noise = "reuse"``: drop a group where the saved A/A rate explains its rate."""
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            known = {(e["operation"], e["location"], e["kind"]): e for e in saved["noise"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(
                f"{path}: cannot reuse noise calibration: {exc}", kind="config"
            ) from exc
        for key, group in list(findings.groups.items()):
            # a calibration saved before a kind was split off (time from value) still holds;
            # a status pair's noise is the pair's, whatever its cause
            place = (group.operation, group.location, group.kind)
            entry = known.get(place) or known.get((*place[:2], ID_KIND.get(key[2], key[2])))
            total = cases.get(group.operation, 0)
            if entry is None or not total or entry.get("aa_rate") is None:
                continue
            explained = group.count / total <= entry["aa_rate"] * 1.25 + self.margin
            record = self.entries.setdefault(
                place, {"aa": 0, "ab": 0, "suppressed": 0, "evidence": entry.get("evidence", "")}
            )
            record["aa"] = round(entry["aa_rate"] * total)
            record["ab"] = group.count
            record["source"] = str(path)
            if explained:
                record["suppressed"] = group.count
                del findings.groups[key]
        # a sequence's step (stateful, growth) has no rate to weigh: a place the saved
        # calibration saw the legacy vary on is noise there too, as in a calibrating run
        for space, key, group in [
            *(("stateful", k, g) for k, g in findings.stateful.items()),
            *(("grown", k, g) for k, g in findings.grown.items()),
        ]:
            place = (group.operation, group.location, group.kind)
            entry = known.get(place) or known.get((*place[:2], ID_KIND.get(key[2], key[2])))
            if entry is not None and (entry.get("aa_rate") or 0) > 0:
                record = self.entries.setdefault(
                    place,
                    {"aa": 0, "ab": 0, "suppressed": 0, "evidence": entry.get("evidence", "")},
                )
                record["suppressed"] += group.count
                record.setdefault("source", str(path))
                del (findings.grown if space == "grown" else findings.stateful)[key]

    def results(self, cases: dict[str, int]) -> list[dict[str, Any]]:
        """The ``noise`` section: every place that varied on its own, with its evidence."""
        out: list[dict[str, Any]] = []
        for (op_id, location, kind), e in sorted(self.entries.items()):
            total = cases.get(op_id, 0)
            out.append(
                {
                    "operation": op_id,
                    "location": location,
                    "kind": kind,
                    "cases": total,
                    "aa_rate": round(e["aa"] / total, 4) if total else None,
                    "ab_rate": round(e["ab"] / total, 4) if total else None,
                    "suppressed": e["suppressed"],
                    "evidence": e["evidence"],
                    "source": e.get("source", "calibration"),
                }
            )
        return out

    def save(
        self, run_dir: Path, target: Path, meta: dict[str, Any], cases: dict[str, int]
    ) -> None:
        data = {**meta, "noise": self.results(cases)}
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        (run_dir / "noise.json").write_text(text, encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
