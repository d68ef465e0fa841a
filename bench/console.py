"""Console list benchmark: ``python -m bench.console [--rows 10000] [--sessions 50] [--seconds 20]``.

Starts a real ``hutong serve`` (one uvicorn process, SQLite) on loopback over a database seeded with
``--rows`` rows in each big list (a holder's works, review decisions; more lists join as they land), signs
in ``--sessions`` people, and lets every one of them browse at once (closed loop: each asks for the next page
as soon as the last arrived) through random pages, sort orders and filters. Server time is the response's
``Server-Timing: app;dur=…`` (arrival to first byte, every middleware counted); client time adds the
loopback and the client's own share of the 2 cores. Peers in the same run: the console's home (no list:
the framework + session + template floor) and the sign-in page (no database).

Writes docs/benchmarks-console.json and regenerates docs/benchmarks.md (not with ``--no-write``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from bench.report import write_report

DOCS = Path(__file__).resolve().parent.parent / "docs"
PASSWORD = "bench console password"
STUDIO = "Bench Studio"
_TIMING = re.compile(r"app;dur=([0-9.]+)")
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def seed(home: Path, rows: int, sessions: int) -> None:
    """People and rows straight into the database the server will open (registration and review would take
    hours at this size and are not what is measured)."""
    from hutong.app import Hutong
    from hutong.config import Settings
    from hutong.store import Account, Certificate, Developer, ReviewDecision, Work
    from hutong.store.models import CertificateWork

    h = Hutong.create(Settings(home=home))
    try:
        accounts = h.platform.accounts
        for i in range(sessions):
            name = f"person{i:03d}"
            accounts.register(name, PASSWORD)
            h.platform.roles.grant(name, "holder", STUDIO)
            h.platform.roles.set_staff(name, True)
        rnd = random.Random(7)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        words = [
            "River",
            "Mountain",
            "长安",
            "夜行",
            "Harbour",
            "Lantern",
            "风起",
            "Tide",
            "Orchard",
            "Pavilion",
        ]
        with h.db.session() as s:
            s.execute(insert(Work), [
                dict(title=f"{rnd.choice(words)} {rnd.choice(words)} {i}", holder=STUDIO if i % 10 else "Other",
                     source_path=f"/catalogue/{i}.mp4", sha256=f"{i:064x}", duration=rnd.uniform(60, 7200),
                     created_at=start + timedelta(minutes=i))
                for i in range(1, int(rows / 0.9) + 2)
            ])  # fmt: skip
            owner = s.execute(insert(Account).returning(Account.id), [
                dict(username=f"dev{i:05d}", display_name=f"Dev {i}", password_hash="-") for i in range(rows // 4)
            ]).scalars().all()  # fmt: skip
            devs = s.execute(insert(Developer).returning(Developer.id), [
                dict(account_id=a, kind="individual", display_name=f"Studio {a}", status="verified")
                for a in owner
            ]).scalars().all()  # fmt: skip
            # uses: certificates over the holder's works (one work each, as a clip of one work would be)
            studio = [i for i in range(1, int(rows / 0.9) + 2) if i % 10]
            s.execute(insert(Certificate), [
                dict(id=f"{i:032x}", clip_sha256=f"{i:064x}", creator=f"creator{i % 200}", platforms=["douyin"],
                     kid="bench", issued_at=start + timedelta(minutes=i), expires_at=start + timedelta(days=400),
                     status="valid" if i % 7 else "revoked", token="-")
                for i in range(rows)
            ])  # fmt: skip
            s.execute(insert(CertificateWork), [
                dict(certificate_id=f"{i:032x}", work_id=rnd.choice(studio)) for i in range(rows)
            ])  # fmt: skip
            s.execute(insert(ReviewDecision), [
                dict(developer_id=devs[i % len(devs)], subject="developer", outcome=rnd.choice(
                     ["approved", "rejected", "pending"]), rule=rnd.choice(["identity", "enterprise_cap", "scope"]),
                     reason="bench", policy_version="2026-01", at=start + timedelta(minutes=i))
                for i in range(rows)
            ])  # fmt: skip
    finally:
        h.close()


LISTS = {
    # name: (path, sort columns, filter words)
    "works": (
        "/console/holder/works",
        ["id", "title", "duration", "added"],
        ["River", "长安", "Tide 12", ""],
    ),
    "uses": (
        "/console/holder/uses",
        ["at", "work", "kind", "platform", "status", "creator"],
        ["creator1", "River", ""],
    ),
    "review decisions": (
        "/console/review/decisions",
        ["id", "at", "outcome", "rule", "developer"],
        ["", "", "Studio 1"],
    ),
}
PEERS = {"console home (no list)": ("/console", True), "sign-in page (no session)": ("/console", False)}


async def sign_in(client: httpx.AsyncClient, username: str) -> None:
    page = await client.get("/console")
    csrf = _CSRF.search(page.text).group(1)
    r = await client.post("/console/login", data={"csrf": csrf, "username": username, "password": PASSWORD})
    assert r.status_code == 303, r.text[:300]


async def signed_in_people(url: str, n: int) -> list[httpx.AsyncClient]:
    """``n`` browsers, each signed in once (Argon2 at sign-in is not what the lists are measured on)."""
    clients = [
        httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1)) for _ in range(n)
    ]
    gate = asyncio.Semaphore(4)

    async def one(i: int, c: httpx.AsyncClient) -> None:
        async with gate:
            await sign_in(c, f"person{i:03d}")

    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
    return clients


async def browse(clients: list[httpx.AsyncClient], seconds: float, pick, *, think=(1.0, 3.0)) -> dict:
    """Every client browses for ``seconds``, reading a page for ``think`` seconds (uniform) before the next
    click; ``think=(0, 0)`` is a closed loop that finds the server's capacity."""
    server_ms: list[float] = []
    client_ms: list[float] = []
    errors = 0

    async def person(i: int, c: httpx.AsyncClient) -> None:
        nonlocal errors
        rnd = random.Random(i)
        await asyncio.sleep(rnd.uniform(*think))  # people do not all click at the same instant
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            path = pick(rnd)
            t0 = time.perf_counter()
            r = await c.get(path)
            took = (time.perf_counter() - t0) * 1000
            m = _TIMING.search(r.headers.get("server-timing", ""))
            if r.status_code != 200 or not m:
                errors += 1
                continue
            server_ms.append(float(m.group(1)))
            client_ms.append(took)
            await asyncio.sleep(rnd.uniform(*think))

    started = time.perf_counter()
    await asyncio.gather(*(person(i, c) for i, c in enumerate(clients)))
    wall = time.perf_counter() - started

    def pct(xs: list[float], p: int) -> float:
        return statistics.quantiles(xs, n=100)[p - 1] if len(xs) > 1 else float("nan")

    return {
        "requests": len(server_ms), "errors": errors, "per_s": len(server_ms) / wall,
        "server_p50_ms": pct(server_ms, 50), "server_p95_ms": pct(server_ms, 95), "server_p99_ms": pct(server_ms, 99),
        "client_p50_ms": pct(client_ms, 50), "client_p95_ms": pct(client_ms, 95),
    }  # fmt: skip


async def measure(url: str, sessions: int, seconds: float) -> tuple[dict, dict]:
    people = await signed_in_people(url, sessions)
    strangers = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(sessions)]
    rows = {}
    try:
        for name, (path, sorts, words) in LISTS.items():
            rows[name] = await browse(people, seconds, picker(path, sorts, words))
            print(name, json.dumps(rows[name]), flush=True)
        for name, (path, signed_in) in PEERS.items():
            rows[name] = await browse(people if signed_in else strangers, seconds, lambda rnd, p=path: p)
            print(name, json.dumps(rows[name]), flush=True)
        # capacity: the works list asked back to back by 8 people (no reading time)
        path, sorts, words = LISTS["works"]
        capacity = await browse(people[:8], seconds / 2, picker(path, sorts, words), think=(0, 0))
        print("capacity", json.dumps(capacity), flush=True)
    finally:
        for c in people + strangers:
            await c.aclose()
    return rows, capacity


def picker(path: str, sorts: list[str], words: list[str]):
    """Random pages of a list, in random orders, now and then filtered (past-the-end pages show the last)."""

    def pick(rnd: random.Random) -> str:
        q = f"?page={rnd.randint(1, 400)}&per=25"
        if sorts:
            q += f"&sort={rnd.choice(sorts)}&dir={rnd.choice(['asc', 'desc'])}"
        word = rnd.choice(words)
        return path + q + (f"&q={word}" if word else "")

    return pick


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from tests.api.conftest import start_server

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        t0 = time.perf_counter()
        seed(home, args.rows, args.sessions)
        print(f"seeded {args.rows} rows per list in {time.perf_counter() - t0:.1f} s")
        server = start_server(home, env={"HUTONG_LOG_LEVEL": "warning"})
        try:
            rows, capacity = asyncio.run(measure(server.url, args.sessions, args.seconds))
        finally:
            server.stop()
    result = {"rows": args.rows, "sessions": args.sessions, "seconds": args.seconds, "think_s": [1.0, 3.0],
              "lists": rows, "capacity_works_per_s": capacity["per_s"], "capacity": capacity}  # fmt: skip
    if not args.no_write:
        (DOCS / "benchmarks-console.json").write_text(json.dumps(result, indent=2) + "\n")
        write_report()


if __name__ == "__main__":
    main()
