"""The parity.toml schema is current, and a wrong key names its line and the closest key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.setup.config import ParityConfig, load_config
from harness.setup.schema import SCHEMA_FILE, json_schema


def test_the_checked_in_config_schema_matches_the_model() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema(ParityConfig), (
        "docs/parity.schema.json is stale: run python -m harness.setup.config --write"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('base_path = "/v1"\n\n[compare]\ntimeout_s = 3\nheadrs = ["etag"]\n',
         r"compare\.headrs \(line 5\): .*did you mean 'headers'"),
        ('[auth]\nlogin = "POST /l"\n[auth.roles.a]\nbody = {}\ncase = false\n',
         r"auth\.roles\.a\.case \(line 5\): .*did you mean 'cases'"),
        ('[[normalize]]\nlocation = "status"\naction = "status"\nlegacy = "200"\n'
         'candidate = "201"\n[[normalize]]\nlocation = "body:$.a"\naction = "ignore"\n'
         'reasn = "x"\n', r"normalize\[1\]\.reasn \(line 9\): .*did you mean 'reason'"),
        ('contrat = "a.yaml"\n', r"contrat \(line 1\): .*did you mean 'contract'"),
    ],
)  # fmt: skip
def test_a_wrong_key_names_the_file_line_and_closest_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(HarnessError, match=r"p\.toml: invalid config: " + expected):
        load_config(path)


@pytest.mark.parametrize(
    "rule",
    [
        'status = { legacy = 200, candidate = 201 }\nreason = "created"\n',
        'location = "status"\naction = "status"\nlegacy = "200"\ncandidate = "201"\n',
    ],
)
def test_a_status_rule_written_plainly_or_as_before(tmp_path: Path, rule: str) -> None:
    from harness.compare.normalization import RuleSet

    path = tmp_path / "p.toml"
    path.write_text('[[normalize]]\noperation = "POST /notes"\n' + rule)
    rules = RuleSet(load_config(path).normalize, "POST /notes")
    assert rules.same_status(200, 201)
    assert not rules.same_status(200, 500)
    assert not RuleSet(load_config(path).normalize, "GET /notes").same_status(200, 201)


def test_a_plain_status_rule_names_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[[normalize]]\nstatus = { legacy = 200 }\n")
    with pytest.raises(HarnessError, match="names both legacy and candidate"):
        load_config(path)
