"""The suite's tiers: every test is ``unit``, ``integration``, ``e2e`` or ``mutants``.

A test marked ``e2e`` (real services) or ``integration`` (a process or database beside the
test, no pair) keeps that tier; any other test is ``unit`` (no services). The mutant
catalogue (``mutants``, dozens of full parity runs) is collected only when asked for by
name: ``-m mutants`` (``nox -s mutants``) or ``pytest tests/mutants``, so ``pytest`` and
``nox -s tests`` stay short.

``slow`` is not a tier but a cost: ``nox -s tests`` (``-m "not slow"``) leaves it out and
``nox -s slow`` (``-m slow``) runs it. The table ``SLOW`` below is where a test becomes slow
(some earlier modules still carry ``pytest.mark.slow`` themselves; both count).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The shipped pair's signed webhook: parity signs with $WEBHOOK_SECRET and both services
# inherit it (contracts/parity.toml [auth.signing]); a CI or user value wins.
os.environ.setdefault("WEBHOOK_SECRET", "parity-test-webhook-secret")

TIERS = ("unit", "integration", "e2e", "mutants")

# Tests left out of `nox -s tests` and run by `nox -s slow`, each with what it took: a module
# path (every test in it) or a node id (a test function: all its parameters, or one of them
# with its [id]). Measured with `nice -n 19 pytest -m "not slow" -n 2 --dist worksteal
# --durations=60` on the 2-core machine shared with other jobs (MEASURED); CI's figures
# were close. Rule: a test is slow when it costs more than a few seconds of a worker and
# another test in the default set proves the same path (the default set keeps, per area, an
# agreeing fixture-pair run, runs that catch each kind of drift, SIGKILL/SIGTERM/Ctrl-C on
# the fixture pair, and gateway end-to-end tests). tests/unit/test_slow_table.py checks
# that every entry names a test that exists. Figures are from the first measurement
# (03:25-03:45 UTC, load 4-12, 19 min 37 s for 573 tests); those marked * from the second,
# with the first entries already slow (03:49-03:58 UTC, load 9-10, 8 min 56 s for 551).
MEASURED = "2026-12-06, 2 cores shared with a CI run and other jobs, load 4-12"
SLOW: dict[str, str] = {
    # 14 full runs on the shipped pair, 16-166 s each (about 780 worker-s; CI 9-45 s each);
    # tests/harness/test_e2e_kill.py keeps SIGKILL and SIGTERM on the fixture pair
    "tests/harness/test_e2e_kill_phases.py": "SIGKILL/SIGTERM in every phase, shipped pair",
    # 36, 34, 20 s (CI 16-17 s); tests/unit/test_shard.py keeps the merge and the plan
    "tests/harness/test_e2e_shard.py": "shards and workers of one run, fixture pair",
    # 15-20 s a case; the rest of the module was already slow: a private PostgreSQL pair
    "tests/harness/test_postgres_pair.py": "the fixture pair on PostgreSQL",
    # fixture pair: test_agreeing_pair_exits_zero, test_each_kind_of_drift_is_found and the
    # drift tests of test_e2e_pair_drift.py stay in the default set
    "tests/harness/test_e2e_pair.py::test_same_seed_same_cases": "34 s (CI 13 s)",
    "tests/harness/test_e2e_pair.py::test_interop_on_a_shared_database": "17 s",
    "tests/harness/test_e2e_pair.py::test_invariants_hold_along_stateful_sequences": "13 s",
    "tests/harness/test_e2e_pair.py::"
    "test_invariant_reading_through_the_api_catches_what_the_responses_do_not": "29 s *",
    "tests/harness/test_e2e_pair.py::"
    "test_probes_catch_framework_behaviour_the_contract_does_not_list": "20 s *",
    "tests/harness/test_e2e_pair.py::"
    "test_invariant_broken_on_one_side_is_a_finding[orphan-reviews_belong_to_items]": "19 s *",
    "tests/harness/test_e2e_pair_drift.py::test_an_accepted_status_pair_never_accepts_a_500": (
        "31 s *"
    ),
    "tests/harness/test_e2e_pair_drift.py::test_one_cause_on_many_operations_is_one_cause": (
        "29 s *"
    ),
    "tests/harness/test_e2e_pair_drift.py::"
    "test_url_mode_resets_only_before_a_case_that_could_see_a_write": "24 s *",
    "tests/harness/test_e2e_pair_drift.py::"
    "test_a_mask_hides_a_value_not_that_one_side_left_it_unchanged": "16 s *",
    "tests/harness/test_e2e_pair_drift.py::test_a_logged_out_token_is_probed_once_per_path": "17 s",
    "tests/harness/test_e2e_pair_drift.py::test_a_base_path_and_a_token_scheme_are_followed": (
        "12 s"
    ),
    "tests/harness/test_e2e_depth.py::"
    "test_an_overlay_and_fixtures_reach_every_success_path_and_go_three_steps_deep": "27 s",
    "tests/harness/test_e2e_depth.py::"
    "test_a_drift_only_a_real_user_shows_is_caught_with_fixtures_and_not_without": "23 s",
    "tests/harness/test_e2e_depth.py::"
    "test_row_pools_reach_the_success_path_of_every_id_taking_operation": "20 s",
    "tests/harness/test_e2e_gate.py::test_a_phase_that_sees_only_401s_makes_the_run_incomplete": (
        "19 s (CI 9.5 s)"
    ),
    "tests/harness/test_e2e_gate.py::test_a_status_rule_lets_sequences_follow_the_creates_links": (
        "15 s"
    ),
    "tests/harness/test_e2e_hooks.py::test_an_agreeing_signed_idempotent_pair_is_quiet": "20 s",
    "tests/harness/test_e2e_jobs.py::test_a_job_that_never_ends_is_a_timeout_finding": "15 s",
    "tests/harness/test_envelope.py::"
    "test_a_wrapped_candidate_agrees_only_under_the_unwrap_rule": "26 s (CI 9.7 s)",
    "tests/harness/test_generation.py::"
    "test_same_seed_gives_identical_requests_across_processes": "26 s",
    # interrupts: SIGKILL at start-up, SIGTERM in generation and Ctrl-C stay in the default set
    "tests/harness/test_e2e_kill.py::"
    "test_sigkill_leaves_no_process_and_no_temporary_file[stateless generation]": "21 s",
    "tests/harness/test_e2e_kill.py::test_signal_exits_2_with_partial_results_naming_the_phase[2]": (
        "24 s (SIGINT; [15] SIGTERM stays)"
    ),
    # `parity init` on the fixture pairs: a generated config, then full runs
    "tests/harness/test_init_notes.py::test_init_on_an_agreeing_pair_stays_quiet": "29 s",
    "tests/harness/test_init_notes.py::"
    "test_init_generates_a_config_that_finds_the_planted_drift": "26 s",
    "tests/harness/test_init_notes.py::test_doctor_names_each_planted_mistake": "25 s",
    "tests/harness/test_init_notes.py::"
    "test_an_accepted_status_pair_still_shows_its_body_difference": "21 s",
    "tests/harness/test_init_causes.py::"
    "test_static_contract_drift_is_found_before_any_request": "26 s",
    "tests/harness/test_init_causes.py::"
    "test_input_both_sides_accept_against_the_contract_is_listed_not_drift": "17-22 s each",
    "tests/harness/test_init_causes.py::"
    "test_one_cause_is_one_finding_and_two_body_shapes_are_two": "15 s",
    "tests/harness/test_init_writes.py::"
    "test_calibrated_writes_propose_rules_with_evidence_and_keep_the_pair_in_step": "7 s",
    "tests/harness/test_init_auth_modes.py::"
    "test_a_cookie_session_with_csrf_and_keys_that_expire": "16-20 s each",
    "tests/harness/test_init_auth_modes.py::test_an_api_key_in_a_query_parameter": ("15-19 s each"),
    # auth per role on the notes pair (a bearer admin, an API-key reader): init, then a run
    "tests/harness/test_auth_per_role.py::"
    "test_each_role_logs_in_and_is_authorized_its_own_way": "14 s",
    "tests/harness/test_auth_per_role.py::"
    "test_a_wrong_per_role_scheme_stops_the_run_with_an_auth_error": "11 s",
    # the notes pair with fixed keys and no login: init, a run and two refused starts;
    # a key revoked mid-run; probe kinds switched off (2026-12-06, 2 cores, other jobs)
    "tests/harness/test_init_fixed_tokens.py::"
    "test_a_pair_without_a_login_runs_on_fixed_tokens": "52 s",
    "tests/harness/test_init_fixed_tokens.py::test_a_fixed_token_revoked_mid_run_is_reported": (
        "22 s"
    ),
    "tests/harness/test_init_fixed_tokens.py::"
    "test_probe_kinds_switched_off_send_nothing_and_are_listed": "26 s",
    "tests/harness/test_init_fixed_tokens.py::"
    "test_doctor_names_a_missing_and_a_refused_fixed_token": "6 s",
    # the fixture pair's legacy started for the hook, then both services (13 s)
    "tests/harness/test_after_start.py::"
    "test_rows_made_after_start_are_in_the_snapshot_both_sides_start_from": "13 s",
    # the Node differential: the three list schemas draw longest (CI 9-11 s); the others stay
    "tests/backend/test_js_differential.py::test_zod_issues[CASE_LIST]": "19 s",
    "tests/backend/test_js_differential.py::test_zod_issues[FEED_LIST]": "16 s",
    "tests/backend/test_js_differential.py::test_zod_issues[ALERT_LIST]": "15 s",
    "tests/backend/test_js_differential.py::test_zod_issues[SEARCH]": "24 s *",
    "tests/backend/test_js_differential.py::test_zod_issues[UPLOAD_LIST]": "19 s *",
    # both services restarted around a queued job (CI 10 s)
    "tests/e2e/test_job_restart.py": "18 s a side",
    # three parity runs on the shipped pair, one a 30 s settle timeout (the lost job);
    # tests/harness/test_restart_probe.py and test_settle.py keep the probe's mechanics
    "tests/e2e/test_job_restart_probe.py": "the restart probe, shipped pair",
    # a real NGINX mirroring to compare-only gateways (2026-12-06, load 3-5: 55 s with two
    # instances and their merge, 30 s agreeing); test_compare_only_e2e.py keeps the path
    "tests/gateway/test_nginx_mirror_e2e.py": "55 s, 30 s",
    # a seeded legacy and 300 simulated requests (06:25 UTC); tests/traffic/test_gaps.py
    # keeps the gap list's parameters, headers and statuses in the default set
    "tests/traffic/test_gaps_e2e.py": "22 s",
    # the managed pair started twice (reduce --coverage replays under coverage.py); test_reduce.py
    # keeps what coverage adds to a reduction
    "tests/traffic/test_reduce_coverage_e2e.py": "8 s",
    # a seeded legacy (npm start: the realtime channel) and 60 simulated requests, then a
    # replay on the managed pair; test_subscription.py keeps the format, the skip, gaps, reduce
    "tests/traffic/test_subscription_e2e.py": "25 s",
}


# The longest single test of each module (s, fresh-clone CI of 2026-12-07, 2 cores): such
# modules are collected first, so under pytest-xdist the long tests start early and the
# short ones fill the end, instead of a 60 s test starting last beside an idle worker.
# Modules keep their tests together (their module fixtures are set up once).
LONGEST: dict[str, float] = {
    "tests/e2e/test_job_restart_probe.py": 77,
    "tests/harness/test_e2e_shipped.py": 62,
    "tests/harness/test_e2e_realtime_gate.py": 58,
    "tests/harness/test_e2e_kill_phases.py": 32,
    "tests/harness/test_e2e_pg_gate.py": 25,
    "tests/harness/test_bench_shipped.py": 24,
    "tests/e2e/test_ratelimit_pair.py": 23,
    "tests/traffic/test_shard_e2e.py": 22,
    "tests/e2e/test_conformance.py": 19,
    "tests/harness/test_e2e_shard_shipped.py": 19,
    "tests/traffic/test_replay_e2e.py": 18,
    "tests/gateway/test_canary_e2e.py": 15,
    "tests/harness/test_e2e_shard.py": 10,
    "tests/gateway/test_schedule_e2e.py": 9,
    "tests/harness/test_e2e_pair_drift.py": 7,
    "tests/gateway/test_shift_e2e.py": 6,
}


def _longest_first(items: list[pytest.Item]) -> None:
    """Stable: modules by their longest test, longest first; the rest keep their order."""
    rank = {m: i for i, m in enumerate(sorted(LONGEST, key=lambda m: -LONGEST[m]))}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def _asks_for_mutants(config: pytest.Config) -> bool:
    """``-m mutants`` (or an expression naming it), or ``tests/mutants`` named on the command line."""
    expression = str(config.getoption("markexpr", "") or "")
    if "mutants" in expression and "not mutants" not in expression:
        return True
    here = Path(__file__).parent / "mutants"
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if path == here or here in path.parents:
            return True
    return False


def _in_slow_table(nodeid: str) -> bool:
    """The node id, its test function (parameters aside) or its module is in ``SLOW``."""
    module = nodeid.split("::", 1)[0]
    function = nodeid.split("[", 1)[0]
    return nodeid in SLOW or function in SLOW or module in SLOW


@pytest.hookimpl(tryfirst=True)  # before -m deselects: `-m "not slow"` must see the mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    wanted = _asks_for_mutants(config)
    for item in items:
        if _in_slow_table(item.nodeid):
            item.add_marker(pytest.mark.slow)
        tiers = [t for t in TIERS if item.get_closest_marker(t) is not None]
        if "mutants" in tiers:
            tiers = ["mutants"]
        elif "e2e" in tiers:
            tiers = ["e2e"]
        if not tiers:
            item.add_marker(pytest.mark.unit)
            tiers = ["unit"]
        if len(tiers) > 1:
            raise pytest.UsageError(f"{item.nodeid}: more than one tier {tiers}")
        if tiers == ["mutants"] and not wanted:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    _longest_first(items)
