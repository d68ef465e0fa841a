"""Registration throughput on workers: ``python -m bench.workers [--files N]``.

The first N media files of ../shared/footage (sorted by name, default 16) registered as works, three ways,
each on a fresh catalogue (SQLite, shared by every process of the run):

- in process: `hutong works add --here` as a person runs it, one file after another (the peer);
- Redis with 1 ``hutong worker`` process (one job at a time), the jobs submitted as one batch;
- Redis with 2 ``hutong worker`` processes (one job at a time each).

A ``redis-server`` is started on a free loopback port. Throughput is media seconds registered per wall second,
from the batch's submission to the last job's end (the workers are started and ready before); CPU seconds are
the worker processes' own (user + system, from /proc), so the figures can be compared on a busy machine.
The near-duplicate check is off (``--allow-duplicate``): several footage files are cuts of the same film, and
this measures decoding and fingerprinting, not refusals. Writes docs/benchmarks-workers.json and regenerates
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.dataset import FOOTAGE
from bench.distribution import start_worker, wait_ready
from bench.report import DOCS, write_report
from hutong.app import Hutong
from hutong.config import installation_settings
from hutong.rights.catalogue import MEDIA_SUFFIXES

TICKS = os.sysconf("SC_CLK_TCK")


def footage(n: int) -> list[Path]:
    files = sorted(f for f in FOOTAGE.iterdir() if f.suffix.lower() in MEDIA_SUFFIXES)
    if not files:
        raise SystemExit(f"no media files in {FOOTAGE} (set HUTONG_FOOTAGE)")
    return files[:n]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (and its waited-for children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


def start_redis() -> tuple[subprocess.Popen, str]:
    import tempfile

    from hutong.cluster import scratch_redis

    return scratch_redis(Path(tempfile.mkdtemp(prefix="hutong-bench-redis-")) / "redis.log")


def in_process(tmp: Path, files: list[Path]) -> dict:
    h = Hutong.create(installation_settings(home=tmp / "home-here"))
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        added, failed = h.catalogue.add(files, holder="Bench", check_duplicates=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        h.close()
    media = sum(w.duration for w in added)
    return {"mode": "in process (works add --here)", "processes": 1, "files": len(added), "failed": len(failed),
            "media_s": round(media, 1), "seconds": round(wall, 2), "cpu_s": round(cpu, 2),
            "media_per_s": round(media / wall, 2), "registered_twice": 0}  # fmt: skip


def on_workers(tmp: Path, files: list[Path], workers: int, url: str) -> dict:
    home = tmp / f"home-{workers}w"
    h = Hutong.create(installation_settings(home=home, redis_url=url))
    logs = [tmp / f"worker-{workers}-{k}.log" for k in range(workers)]
    procs = [start_worker(home, log, 1, HUTONG_REDIS_URL=url) for log in logs]
    try:
        wait_ready(list(zip(procs, logs, strict=True)))
        before = {p.pid: cpu_seconds(p.pid) for p in procs}
        start = time.perf_counter()
        batch = h.registration_jobs.submit(files, holder="Bench", check_duplicates=False)
        while (b := h.registration_jobs.batch(batch.id)).running:
            time.sleep(0.1)
        wall = time.perf_counter() - start
        cpu = sum(cpu_seconds(p.pid) - before[p.pid] for p in procs)
        done = [j for j in b.jobs if j.state == "done"]
        works = h.catalogue.list()
        twice = len(works) - len({w.sha256 for w in works})
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        h.close()
    media = sum(j.duration for j in done)
    return {"mode": f"Redis, {workers} hutong worker process{'es' if workers > 1 else ''}", "processes": workers,
            "files": len(done), "failed": len(b.jobs) - len(done), "media_s": round(media, 1),
            "seconds": round(wall, 2), "cpu_s": round(cpu, 2), "media_per_s": round(media / wall, 2),
            "registered_twice": twice}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16, help="footage files to register (default 16)")
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        parser.error("redis-server is not installed (apt-get install redis-server; ./run bench does)")
    files = footage(args.files)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hutong-bench-workers-") as t:
        tmp = Path(t)
        probe = Hutong.create(installation_settings(home=tmp / "probe"))
        signals = ",".join(
            sig.name for sig in probe.recognizer.signals
        )  # what this installation fingerprints
        probe.close()
        rows.append(in_process(tmp, files))
        print(json.dumps(rows[-1]), flush=True)
        redis, url = start_redis()
        try:
            for workers in (1, 2):
                rows.append(on_workers(tmp, files, workers, url))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            redis.terminate()
            redis.wait(10)
    result = {"files": len(files), "media_s": rows[0]["media_s"], "cores": os.cpu_count(), "signals": signals,
              "rows": rows}  # fmt: skip
    (DOCS / "benchmarks-workers.json").write_text(json.dumps(result, indent=2) + "\n")
    write_report()


if __name__ == "__main__":
    main()
