"""The shifting pieces in front of the real shipped pair on one shared SQLite database: the
"me" operation of the real legacy gives one identity across logins; a canary route whose
port is killed mid-run answers every GET from the legacy, counts the fallbacks, opens its
breaker, and closes it again once the port is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from harness.gateway.breaker import Breakers, BreakerSettings
from harness.gateway.fallback import Budget
from harness.gateway.identity import IdentityResolver, IdentitySource, http_me_fetcher
from harness.gateway.shift import Shifter
from harness.gateway.state import RouteTable
from tests.servers import legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

ROUTE = "GET /api/cases"


def test_canary_on_the_real_pair_survives_the_port_dying(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    seed(db)
    logs = tmp_path / "logs"
    logs.mkdir()
    with running("legacy", db, logs) as legacy, running("port", db, logs) as port:
        tokens = [legacy.login("agent") for _ in range(3)]  # three logins, three tokens
        assert len(set(tokens)) == 3
        port_url = [port.url]
        table = RouteTable(tmp_path / "state.json", defaults={ROUTE: ("shadow", None)})

        async def scenario() -> dict[str, object]:
            async with httpx.AsyncClient() as client:
                me = http_me_fetcher(client, legacy.url, "/api/auth/me")
                resolver = IdentityResolver(IdentitySource("me", "user.id"), me)
                shifter = Shifter(
                    table,
                    identity=resolver,
                    breakers=Breakers(BreakerSettings(consecutive=3, open_s=0.5)),
                    budget=Budget(port_s=5, legacy_s=10, total_s=15),
                )
                shifter.shift(ROUTE, "canary", 100, "e2e: everyone on the port", "test")

                async def get(token: str) -> tuple[str | None, int]:
                    headers = {"Authorization": f"Bearer {token}"}
                    choice = await shifter.choose(ROUTE, headers)
                    assert choice.side == "port"
                    served = await shifter.serve(
                        ROUTE,
                        "GET",
                        lambda t: client.get(
                            f"{port_url[0]}/api/cases", headers=headers, timeout=t
                        ),
                        lambda t: client.get(f"{legacy.url}/api/cases", headers=headers, timeout=t),
                    )
                    assert served.response is not None
                    return served.side, served.response.status_code

                identities = {
                    await resolver.resolve({"Authorization": f"Bearer {t}"}) for t in tokens
                }
                before = [await get(t) for t in tokens]
                stop(port.process)  # the port dies mid-run
                during = [await get(tokens[n % 3]) for n in range(20)]
                opened = shifter.breakers[ROUTE].state
                # the port comes back (a new process on the same database, another port)
                with running("port", db, logs) as again:
                    port_url[0] = again.url
                    deadline = time.monotonic() + 60
                    after: list[tuple[str | None, int]] = []
                    while shifter.breakers[ROUTE].state != "closed":
                        assert time.monotonic() < deadline, shifter.snapshot()
                        after.append(await get(tokens[0]))
                        await asyncio.sleep(0.05)
                    last = await get(tokens[1])
                return {
                    "identities": identities,
                    "lookups": resolver.lookups,
                    "before": before,
                    "during": during,
                    "opened": opened,
                    "after": after,
                    "last": last,
                    "snapshot": shifter.snapshot()["routes"][ROUTE],
                }

        out = asyncio.run(scenario())
    assert len(out["identities"]) == 1
    assert None not in out["identities"]
    assert out["lookups"] == 3  # once per token
    assert out["before"] == [("port", 200)] * 3
    assert all(code == 200 for _, code in out["during"])  # type: ignore[attr-defined]
    assert {side for side, _ in out["during"]} == {"legacy"}  # type: ignore[attr-defined]
    assert out["opened"] == "open"
    assert out["last"] == ("port", 200)
    snap = out["snapshot"]
    assert snap["fallbacks"] >= 20  # type: ignore[index]
    assert snap["breaker"]["state"] == "closed"  # type: ignore[index]
    assert snap["breaker"]["transitions"] >= 3  # type: ignore[index]
    print("\nshift e2e:", snap)
