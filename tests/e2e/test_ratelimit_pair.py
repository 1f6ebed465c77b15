"""The shipped pair's rate limits (issue 27) climbed by parity's ratelimit phase: the run keeps
the limits off (contracts/parity.toml's service env), the phase restarts both services with
5 per 60 s (``[[rate_limit]] restart_env``) and climbs login and the webhook. The agreeing pair
(the port, through the unmutated mutant launcher) refuses the 6th request on both sides with
the same Retry-After; a port one request late and a port whose window opens at the first
request (not the clock boundary) are each caught by that ladder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutants.runner import mutant_config, run_parity
from tests.servers import legacy_built

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

LOGIN, WEBHOOK = "POST /api/auth/login", "POST /api/webhooks/alerts"
# only the ladder: no generated cases, so the run is the two climbs and their restarts
LADDER = {"ladder": {"stateless": False, "require_proof": False, "invariants": False}}


@pytest.mark.parametrize(
    ("mutant", "caught"),
    [
        ("", None),
        ("login-rate-limit-one-late", ("POST /api/auth/login [rate limit]", "request 6")),
        ("webhook-rate-window-at-first-request", ("POST /api/webhooks/alerts [rate limit]", None)),
    ],
)
def test_the_ladder_agrees_and_catches_a_drifted_limit(
    tmp_path: Path, mutant: str, caught: tuple[str, str | None] | None
) -> None:
    config = mutant_config(tmp_path, mutant or None, extra_profiles=LADDER)
    outcome = run_parity(
        config, [LOGIN, WEBHOOK], profile="ladder", seed=1, report_dir=tmp_path / "reports"
    )
    assert outcome.results is not None, outcome.output[-3000:]
    # both ladders climbed to the 6th request (5 accepted, the 6th refused) on the legacy
    sent = outcome.results["stats"]["edges"]["rate_limit_requests"]
    if caught is None:
        assert outcome.exit_code == 0, outcome.findings or outcome.output[-3000:]
        assert outcome.findings == []
        assert sent == 12  # each ladder stops where both sides refuse: the 6th
        return
    assert outcome.exit_code == 1, outcome.output[-3000:]
    operation, legacy_said = caught
    [finding] = [f for f in outcome.findings if f["operation"] == operation]
    first = finding["example"]["diff"][0]
    if legacy_said is not None:  # the threshold: the legacy's 6th, the port's 7th
        assert first["legacy"] == legacy_said
        assert first["candidate"] == "request 7"
    else:  # the same threshold, a Retry-After a whole window from the first request
        assert finding["location"] == "header:retry-after", finding
