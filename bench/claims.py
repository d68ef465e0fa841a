"""Claims benchmark: ``python -m bench.claims [--clips 10000] [--events 100000]``.

1. Re-deciding every clip of a holder after a policy change: ``--clips`` clips with stored matches (claims
   recorded through :meth:`Claims.record`, most of them tracked), then a new policy version and
   :meth:`Claims.redecide`. Floor in the same run: loading the same claims and nothing else.
2. A month's statements from ``--events`` revenue reports (:meth:`Ledger.report`, one transaction each, over
   posts of those clips): every holder's and every creator's statement for the month, JSON and CSV. Floor in
   the same run: one SQL aggregate of the month's movements per account.

Works are database rows (the claims logic does not look at media); SQLite in a temporary home.
Writes docs/benchmarks-claims.json and regenerates docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.report import write_report
from hutong.app import Hutong
from hutong.claims import ClipUse, Finding, PolicyRules
from hutong.config import get_settings
from hutong.store import Account, Claim, LedgerEntry, Post, Video, Work

DOCS = Path(__file__).resolve().parent.parent / "docs"
HOLDERS = [f"Studio {i}" for i in range(5)]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--posts", type=int, default=2_000)
    ap.add_argument("--note", default="", help="A sentence printed under the table (the machine's state).")
    args = ap.parse_args()
    rng = random.Random(12)
    month = datetime(2026, 12, 1, tzinfo=UTC)
    clock = Clock(month - timedelta(days=3))
    with tempfile.TemporaryDirectory(prefix="hutong-bench-claims-") as tmp:
        h = Hutong.create(get_settings(home=Path(tmp)), clock=clock)
        try:
            with h.db.session() as s:
                for i in range(20):
                    s.add(Work(title=f"work {i}", holder=HOLDERS[i % len(HOLDERS)], source_path="-",
                               sha256=hashlib.sha256(f"w{i}".encode()).hexdigest(), duration=1800.0))  # fmt: skip
            target = HOLDERS[0]
            works = [i + 1 for i in range(20) if HOLDERS[i % len(HOLDERS)] == target]
            for holder in HOLDERS:  # everyone else monetises; the target holder starts by tracking
                if holder != target:
                    h.policies.set(holder, PolicyRules.parse({"default": "monetise"}))

            # -- clips with stored matches -------------------------------------------------------------
            creators = [f"creator{i}" for i in range(200)]
            t0 = time.perf_counter()
            shas = []
            for i in range(args.clips):
                sha = hashlib.sha256(f"clip{i}".encode()).hexdigest()
                shas.append(sha)
                work = works[i % len(works)] if i % 2 == 0 else rng.randrange(1, 21)
                length = rng.uniform(2, 40)
                q0, r0 = rng.uniform(0, 20), rng.uniform(0, 1700)
                f = Finding(work, q0, q0 + length, r0, r0 + length, score=0.9, signals=("video.dct",))
                h.claims.record(ClipUse(sha, 60.0, rng.choice(creators), rng.choice(["douyin", "bilibili"]), [f],
                                        rng.choice(["CN", "HK", "US"])))  # fmt: skip
            record_s = time.perf_counter() - t0
            with h.db.session() as s:
                mine = s.execute(select(func.count(Claim.id)).where(Claim.holder == target)).scalar_one()

            # -- policy change, then re-deciding every clip of the holder ------------------------------
            t0 = time.perf_counter()
            with h.db.session() as s:
                loaded = len(list(s.scalars(select(Claim).where(Claim.holder == target))))
            load_s = time.perf_counter() - t0
            h.policies.set(target, PolicyRules.parse({
                "default": "track", "min_match_seconds": 3,
                "rules": [{"action": "block", "when": {"min_work_share": 0.02}},
                          {"action": "monetise", "when": {"min_seconds": 10, "territories": ["CN", "HK"]}},
                          {"action": "review", "when": {"platforms": ["bilibili"]}}]}),
                reason="bench: a policy change")  # fmt: skip
            t0 = time.perf_counter()
            redecided = h.claims.redecide(target)
            redecide_s = time.perf_counter() - t0

            # -- a month of revenue ------------------------------------------------------------------
            with h.db.session() as s:
                accounts = []
                for c in creators:
                    a = Account(username=c, display_name=c, password_hash="-")
                    s.add(a)
                    accounts.append(a)
                s.flush()
                videos = [Video(id=f"v{i}", client_id="bench-app", account_id=accounts[i % len(accounts)].id,
                                path="-", sha256=shas[i * (len(shas) // args.posts)], size=1, duration=60.0)
                          for i in range(args.posts)]  # fmt: skip
                s.add_all(videos)
                s.flush()
                s.add_all(Post(id=f"p{i}", video_id=v.id, account_id=v.account_id, client_id="bench-app",
                               status="published") for i, v in enumerate(videos))  # fmt: skip
                posts = [f"p{i}" for i in range(args.posts)]
            step = timedelta(seconds=(31 * 86400) / args.events)
            clock.now = month
            t0 = time.perf_counter()
            for i in range(args.events):
                h.ledger.report("bench-app", f"e{i}", posts[i % len(posts)], rng.randrange(1, 5000), "CNY")
                clock.now += step
            report_s = time.perf_counter() - t0
            end = month + timedelta(days=31)
            unbalanced = h.ledger.unbalanced()

            t0 = time.perf_counter()
            with h.db.session() as s:
                floor = s.execute(
                    select(LedgerEntry.account, func.sum(LedgerEntry.amount_minor))
                    .where(LedgerEntry.at >= month, LedgerEntry.at < end)
                    .group_by(LedgerEntry.account)
                ).all()
            floor_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            lines = 0
            for holder in HOLDERS:
                st = h.ledger.statement(holder=holder, start=month, end=end)
                h.ledger.csv(st)
                lines += len(st["lines"])
            holders_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for c in creators:
                st = h.ledger.statement(creator=c, start=month, end=end)
                h.ledger.csv(st)
                lines += len(st["lines"])
            creators_s = time.perf_counter() - t0
        finally:
            h.close()

    result = {
        "clips": args.clips,
        "record_seconds": round(record_s, 2),
        "record_per_second": round(args.clips / record_s, 1),
        "holder_clips": mine,
        "load_seconds": round(load_s, 3),
        "loaded": loaded,
        "redecide_seconds": round(redecide_s, 3),
        "redecided": redecided,
        "redecide_per_second": round(mine / redecide_s, 1),
        "events": args.events,
        "posts": args.posts,
        "report_seconds": round(report_s, 2),
        "reports_per_second": round(args.events / report_s, 1),
        "unbalanced": len(unbalanced),
        "statement_lines": lines,
        "holders": len(HOLDERS),
        "creators": len(creators),
        "holder_statements_seconds": round(holders_s, 3),
        "creator_statements_seconds": round(creators_s, 3),
        "aggregate_floor_seconds": round(floor_s, 3),
        "aggregate_accounts": len(floor),
        "note": args.note,
    }
    (DOCS / "benchmarks-claims.json").write_text(json.dumps(result, indent=2) + "\n")
    write_report()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
