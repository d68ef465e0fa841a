"""Token endpoint benchmark: ``python -m bench.tokens [--rate 200] [--seconds 20]``.

Starts a real ``hutong serve`` (one uvicorn worker, SQLite) on loopback, registers a confidential app, and
drives the token endpoint open-loop at a fixed rate from a second process-local asyncio client (on the same
2-core machine). Latency is measured from each request's *scheduled* send time, so a stalled server is not
hidden by a stalled client (no coordinated omission). In the same run, peers on the same server:

- ``client_credentials``: client authentication + token generation + one INSERT;
- ``refresh_token`` with rotation: lookup, reuse check, rotation UPDATE, new pair INSERT;
- the discovery document: the framework's floor for a JSON GET (no database).

Then the highest sustainable rate (closed loop, 16 concurrent requests) for client_credentials and, as the
framework's ceiling in the same run, for the discovery document. In the same run, the token rows again with two
API processes (``hutong serve --workers 2``) on a temporary PostgreSQL 15 cluster on loopback.
Writes docs/benchmarks-tokens.json and regenerates docs/benchmarks.md (not with ``--no-write``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import write_report

DOCS = Path(__file__).resolve().parent.parent / "docs"


def setup(url: str) -> tuple[dict, list[str]]:
    from tests.api.conftest import UserAgent, api_user, code_grant

    token = api_user(url, "benchdev")
    auth = {"Authorization": f"Bearer {token}"}
    httpx.post(url + "/api/developers", json={"kind": "individual", "display_name": "Bench"}, headers=auth)
    app = httpx.post(url + "/api/apps", headers=auth, json={"name": "Bench", "client_type": "confidential",
                     "redirect_uris": ["http://127.0.0.1:9/cb"], "scopes": ["openid", "links.card"]}).json()  # fmt: skip
    # refresh tokens to spend: each rotation chain is one grant, so make many grants
    with UserAgent(url) as ua:
        ua.login("benchdev")
        refresh = [code_grant(ua, app, "openid")["refresh_token"] for _ in range(40)]
    return app, refresh


async def open_loop(make_request, rate: float, seconds: float) -> dict:
    """Send at ``rate`` per second for ``seconds``; latency from the scheduled time of each request."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as client:
        start = time.perf_counter() + 0.1
        n = int(rate * seconds)

        async def one(i: int) -> None:
            nonlocal errors
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                r = await make_request(client, i)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - scheduled) * 1000)
            errors += not ok

        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {"rate": rate, "requests": len(latencies), "errors": errors, "achieved_per_s": len(latencies) / elapsed,
            "p50_ms": q[49], "p99_ms": q[98], "max_ms": max(latencies)}  # fmt: skip


async def closed_loop(make_request, concurrency: int, seconds: float) -> float:
    done = 0
    async with httpx.AsyncClient(timeout=10) as client:
        end = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            nonlocal done
            i = k
            while time.perf_counter() < end:
                r = await make_request(client, i)
                done += r.status_code == 200
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return done / (time.perf_counter() - t0)


def measure(url: str, rate: float, seconds: float, *, peers: bool) -> dict:
    """The token endpoint of the server at ``url``; with ``peers``, the discovery document and the closed-loop
    ceilings too."""
    app, refresh_pool = setup(url)
    basic = (app["client_id"], app["client_secret"])

    async def cc(client, i):
        return await client.post(
            url + "/oauth/token", data={"grant_type": "client_credentials", "scope": "links.card"}, auth=basic
        )

    # each grant's refresh token rotates: a chain has at most one request in flight (a second one would
    # present a spent token, which rightly revokes the whole grant), so a request takes an idle chain,
    # waiting for one if all are busy; the wait counts in its latency (from its scheduled time)
    idle: asyncio.Queue | None = None

    async def rt(client, i):
        nonlocal idle
        if idle is None:
            idle = asyncio.Queue()
            for token in refresh_pool:
                idle.put_nowait(token)
        token = await idle.get()
        r = await client.post(
            url + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=basic
        )
        idle.put_nowait(r.json()["refresh_token"] if r.status_code == 200 else token)
        return r

    async def disco(client, i):
        return await client.get(url + "/.well-known/openid-configuration")

    results: dict = {}
    asyncio.run(open_loop(cc, 50, 2))  # warm up (every process of a multi-process server)
    results["client_credentials"] = asyncio.run(open_loop(cc, rate, seconds))
    results["refresh_token (rotation)"] = asyncio.run(open_loop(rt, rate, seconds))
    if peers:
        results["discovery document (no database)"] = asyncio.run(open_loop(disco, rate, seconds))
    results["max_client_credentials_per_s"] = asyncio.run(closed_loop(cc, 16, seconds / 2))
    if peers:
        results["max_discovery_per_s"] = asyncio.run(closed_loop(disco, 16, seconds / 2))
        results["client_credentials_vs_discovery"] = round(
            results["max_client_credentials_per_s"] / results["max_discovery_per_s"], 2
        )
    return results


def main(rate: float, seconds: float, write: bool = True) -> dict:
    """Two setups in one run: today's single process on SQLite, and `hutong serve --workers 2` on PostgreSQL
    (a temporary PostgreSQL 15 cluster on loopback, as the tests start one)."""
    from tests.api.conftest import start_server
    from tests.store.test_postgres import postgres_available, temporary_postgres

    results: dict = {"rate": rate, "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="hutong-bench-tokens-") as tmp:
        server = start_server(Path(tmp) / "home", env={"HUTONG_HOME": str(Path(tmp) / "home")})
        try:
            results.update(measure(server.url, rate, seconds, peers=True))
        finally:
            server.stop()
    if postgres_available():
        with tempfile.TemporaryDirectory(prefix="hutong-bench-tokens-pg-") as tmp, temporary_postgres() as pg:
            home = Path(tmp) / "home"
            server = start_server(home, env={"HUTONG_DATABASE_URL": pg}, args=("--workers", "2"))
            try:
                results["two_processes_postgres"] = measure(server.url, rate, seconds, peers=False)
            finally:
                server.stop()
    if write:
        (DOCS / "benchmarks-tokens.json").write_text(json.dumps(results, indent=2))
        write_report()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--no-write", action="store_true", help="print the figures only; leave docs/ alone")
    a = ap.parse_args()
    print(json.dumps(main(a.rate, a.seconds, write=not a.no_write), indent=2))
