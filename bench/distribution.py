"""Distribution benchmark: ``python -m bench.distribution [--clips N]`` (default 200).

N distinct certified clips published to 3 loopback platforms (three real ``hutong serve`` processes, each
trusting the creator service A; one connected account on each), so 3N targets, in four ways:

- the embedded queue: Huey on SQLite, consumer threads inside the process that submits (4 at once);
- Redis: a ``redis-server`` started on a free loopback port, 2 separate ``hutong worker`` processes (2 at
  once each);
- the embedded queue run by a ``hutong worker`` process killed with SIGKILL every few seconds and started
  again each time (4 at once);
- Redis with one of its 2 workers killed every few seconds and started again: the other takes over the
  killed one's jobs once their lease lapses (``--lease``, default 10 s here; 5 min by default in a
  deployment, ``HUTONG_DISTRIBUTION_LEASE_SECONDS``). A lease that lapses under a live worker only means a
  second worker runs the job too: the create is replayed with the same Idempotency-Key, never doubled;
- a naive sequential publisher: upload then ``create_video``, one target after another, no queue, no job
  records (the adapter's calls, nothing else); and the same as a script that notes each target once its post
  is made and skips noted ones when started again, SIGKILLed every few seconds and restarted.

Each clip is the same small 二创 clip (recognised as using two registered works, then certified by A) with
its own trailing MP4 ``free`` box: distinct bytes, the same streams. Time to published is measured from the
job's submission to its ``published`` step; throughput is targets / (last published − first submitted).
``duplicates`` and ``lost`` are counted on the platforms themselves: posts per target beyond one, and
targets without a post. Writes docs/benchmarks-distribution.json and regenerates docs/benchmarks.md.

The platforms are on loopback, which the outbound address policy refuses by default: the benchmark allows
it (``HUTONG_OUTBOUND_ALLOW_NETWORKS``), and lifts the per-account limit of posts a minute (every target
here is one of three accounts: ``HUTONG_DISTRIBUTION_ACCOUNT_PER_MINUTE=0``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.report import write_report
from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.cli.demo import SAMPLES
from hutong.config import installation_settings
from hutong.distribute.adapters import UploadState
from hutong.media.synth import Piece, build_clip, run_ffmpeg
from hutong.rights import LicenceTerms
from hutong.store import PublishEvent, PublishJob

DOCS = Path(__file__).resolve().parent.parent / "docs"
PLATFORMS = ("bench-p1", "bench-p2", "bench-p3")
ATTRIBUTION = "© Blender Foundation, CC BY"
REDIRECT = "http://127.0.0.1:9/cb"
KILL_EVERY = 3.0  # seconds between SIGKILLs in the crash run
LOOPBACK = ["127.0.0.0/8", "::1/128"]
# every hutong process of the benchmark: loopback platforms allowed, no per-account limit of ours
BENCH_ENV = {
    "HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(LOOPBACK),
    "HUTONG_DISTRIBUTION_ACCOUNT_PER_MINUTE": "0",
}
BENCH_SETTINGS = {"outbound_allow_networks": LOOPBACK, "distribution_account_per_minute": 0}
FINAL = ("published", "needs_confirmation", "rejected", "failed", "cancelled")


@dataclass
class World:
    tmp: Path
    base: Path  # A's home with works, licence, certified clips and the three connected accounts; no jobs
    a_url: str
    clips: list[tuple[Path, str]]
    servers: list = field(default_factory=list)  # (platform name, Server)
    clip_bytes: int = 0
    lease: float = 10.0  # seconds (HUTONG_DISTRIBUTION_LEASE_SECONDS) in the Redis and killed runs


def child_env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    return env | BENCH_ENV | {"HUTONG_HOME": str(home), **extra}


def make_clips(h: Hutong, folder: Path, n: int) -> list[tuple[Path, str]]:
    for name in ("bbb_30s.mp4", "sintel_trailer.mp4"):
        h.catalogue.add_one(SAMPLES / name, title=name, holder="Blender Foundation", check_duplicates=False)
    built = build_clip([Piece(SAMPLES / "bbb_30s.mp4", 5, 5, ("grade",), seed=1),
                        Piece(SAMPLES / "sintel_trailer.mp4", 14, 5, ("mirror",), seed=2)], folder / "built.mp4")  # fmt: skip
    small = folder / "small.mp4"  # a few tens of KB: the benchmark is about the jobs, not the bytes
    run_ffmpeg(["-y", "-i", str(built.path), "-vf", "scale=192:-2", "-c:v", "libx264", "-crf", "36",
                "-preset", "veryfast", "-c:a", "aac", "-b:a", "24k", "-ac", "1", str(small)])  # fmt: skip
    report = h.recognizer.match(small)
    assert {s.work_id for s in report.segments} == {1, 2}, report.as_dict()
    h.creators.add("xiaoming", verified=True)
    h.licences.grant("Blender Foundation", LicenceTerms.parse({"works": [1, 2], "scope": {"kind": "verified"},
                     "platforms": list(PLATFORMS), "valid_from": "2026-01-01", "valid_until": "2030-01-01",
                     "attribution": ATTRIBUTION}))  # fmt: skip
    data, clips = small.read_bytes(), []
    for i in range(n):
        out = folder / f"clip{i:04d}.mp4"
        payload = f"hutong distribution benchmark copy {i}".encode()
        out.write_bytes(data + struct.pack(">I", 8 + len(payload)) + b"free" + payload)
        result = h.compliance.check(out, "xiaoming", ",".join(PLATFORMS[:1]), report=report)
        cert = h.compliance.certify(result)
        assert set(PLATFORMS) <= set(cert.claims["platforms"]), cert.claims["platforms"]
        clips.append((out, cert.token))
    return clips


def start_platform(world: World, name: str, stack: contextlib.ExitStack, h: Hutong) -> None:
    from tests.api.conftest import UserAgent, api_user, bearer, start_server

    port = free_port()
    url, home = f"http://127.0.0.1:{port}", world.tmp / name
    hb = Hutong.create(installation_settings(home=home, issuer=url, platform_name=name))
    hb.platform.directory.trust(world.a_url, note="distribution benchmark")
    hb.close()
    server = start_server(home, port=port, env={"HUTONG_ISSUER": url, "HUTONG_PLATFORM_NAME": name,
                                                "HUTONG_UNCERTIFIED": "reject",
                                                "HUTONG_DISTRIBUTION_IN_SERVE": "false"})  # fmt: skip
    stack.callback(server.stop)
    world.servers.append((name, server))
    dev = api_user(url, "benchdev")
    httpx.post(
        url + "/api/developers", headers=bearer(dev), json={"kind": "individual", "display_name": "Bench"}
    )
    app = httpx.post(url + "/api/apps", headers=bearer(dev), json={"name": "Carrier", "client_type": "confidential",
                     "redirect_uris": [REDIRECT], "scopes": ["openid", "video.create"]}).json()  # fmt: skip
    api_user(url, "creator")
    started = h.distribution.accounts.start(name, url, client_id=app["client_id"],
                                            client_secret=app["client_secret"], redirect_uri=REDIRECT)  # fmt: skip
    with UserAgent(url) as ua:
        ua.login("creator")
        back = ua.submit(ua.get(started["authorization_url"]).text, "/oauth/authorize", button="allow")
    assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"


def posts_on_platforms(world: World, mode: str, n: int) -> tuple[int, int, int]:
    """(posts, duplicates, lost) for this mode's captions, counted on the three platforms."""
    posts = duplicates = lost = 0
    for _, server in world.servers:
        with sqlite3.connect(server.home / "hutong.db", timeout=30) as db:
            texts = Counter(
                t for (t,) in db.execute("SELECT text FROM posts WHERE text LIKE ?", (f"{mode} %",))
            )
        for i in range(n):
            k = texts.get(f"{mode} {i}\n{ATTRIBUTION}", 0)
            posts, duplicates, lost = posts + k, duplicates + max(0, k - 1), lost + (k == 0)
    return posts, duplicates, lost


def row(
    label: str, times: list[float], span: float, targets: int, counted: tuple[int, int, int], **extra
) -> dict:
    q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0] if times else 0.0] * 99
    posts, duplicates, lost = counted
    return {"mode": label, "targets": targets, "published": len(times), "posts": posts, "seconds": span,
            "per_s": targets / span if span else 0.0, "p50_s": q[49], "p99_s": q[98], "duplicates": duplicates,
            "lost": lost, **extra}  # fmt: skip


def job_times(h: Hutong) -> tuple[list[float], float, int]:
    """(time to published per published job, first submission → last published, jobs not published)."""
    with h.db.session() as s:
        jobs = s.execute(select(PublishJob)).scalars().all()
        done = dict(
            s.execute(
                select(PublishEvent.job_id, PublishEvent.at).where(PublishEvent.state == "published")
            ).all()
        )
        first = min(j.created_at for j in jobs)
        times = [(done[j.id] - j.created_at).total_seconds() for j in jobs if j.state == "published"]
        last = max((done[j.id] for j in jobs if j.state == "published"), default=first)
        return times, (last - first).total_seconds(), sum(j.state != "published" for j in jobs)


def submit_all(h: Hutong, world: World, mode: str, tick=None) -> None:
    for i, (clip, cert) in enumerate(world.clips):
        if tick:
            tick()
        for t in h.distribution.jobs.submit(clip, cert, list(PLATFORMS), caption=f"{mode} {i}"):
            assert t.ok, t.message


def wait_final(h: Hutong, total: int, timeout: float, tick=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with h.db.session() as s:
            states = [st for (st,) in s.execute(select(PublishJob.state)).all()]
        if len(states) == total and all(st in FINAL for st in states):
            return
        if tick:
            tick()
        time.sleep(0.2)
    raise TimeoutError(f"jobs not final after {timeout:.0f} s: {Counter(states)}")


def fresh(world: World, mode: str, **settings) -> Hutong:
    home = world.tmp / f"a-{mode}"
    shutil.copytree(world.base, home)
    return Hutong.create(installation_settings(home=home, **BENCH_SETTINGS, **settings))


def start_worker(home: Path, log: Path, workers: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hutong", "worker", "--workers", str(workers)],
                            env=child_env(home, **env), stdout=log.open("a"), stderr=subprocess.STDOUT)  # fmt: skip


def wait_ready(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for proc, log in procs:
        while "publishing worker:" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hutong worker did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)


def run_embedded(world: World, n: int, timeout: float) -> dict:
    h = fresh(world, "embedded")
    try:
        with h.distribution.worker(4):
            submit_all(h, world, "embedded")
            wait_final(h, 3 * n, timeout)
        times, span, _ = job_times(h)
    finally:
        h.close()
    return row("embedded queue (SQLite Huey, 4 threads in process)", times, span, 3 * n,
               posts_on_platforms(world, "embedded", n))  # fmt: skip


def run_redis(world: World, n: int, timeout: float, *, kill: bool = False) -> dict:
    """2 `hutong worker` processes on Redis; ``kill``: one of them SIGKILLed every few seconds of its life
    and started again (the other takes its jobs over once their lease lapses)."""
    mode = "rediskill" if kill else "redis"
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    lease = str(world.lease)
    h = fresh(world, mode, redis_url=url, distribution_lease_seconds=world.lease)
    procs = []
    rng, kills, state = random.Random(11), [0], {"next": None, "starts": 1}
    env = {"HUTONG_REDIS_URL": url, "HUTONG_DISTRIBUTION_LEASE_SECONDS": lease}
    logs = [world.tmp / f"{mode}-worker-{k}.log" for k in range(2)]

    def tick() -> None:  # the first worker dies every few seconds of its life; the second lives on
        if not kill:
            return
        proc, log = procs[0]
        if state["next"] is None:
            if log.read_text().count("publishing worker:") >= state["starts"]:
                state["next"] = time.monotonic() + KILL_EVERY * rng.uniform(0.5, 1.5)
            return
        if time.monotonic() >= state["next"]:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills[0] += 1
            procs[0], state["next"] = (start_worker(h.settings.home, log, 2, **env), log), None
            state["starts"] += 1

    try:
        for log in logs:
            procs.append((start_worker(h.settings.home, log, 2, **env), log))
        wait_ready(procs)
        submit_all(h, world, mode, tick)
        wait_final(h, 3 * n, timeout, tick)
        times, span, _ = job_times(h)
        with h.db.session() as s:
            msgs = [m for (m,) in s.execute(select(PublishEvent.message)).all()]
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGINT)
        for proc, _ in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        h.close()
        redis.terminate()
        redis.wait(10)
    counted = posts_on_platforms(world, mode, n)
    if not kill:
        return row("Redis, 2 `hutong worker` processes × 2", times, span, 3 * n, counted)
    recovered = sum(m.startswith("recovered") for m in msgs)
    replays = sum("no second post" in m for m in msgs)
    return row(f"Redis, one of 2 `hutong worker`s SIGKILLed every ~{KILL_EVERY:.0f} s of its life "
               f"(lease {world.lease:g} s)", times, span, 3 * n, counted, kills=kills[0], recovered=recovered,
               replayed_creates=replays)  # fmt: skip


def run_killed(world: World, n: int, timeout: float) -> dict:
    h = fresh(world, "killed")
    home, log = h.settings.home, world.tmp / "killed-worker.log"
    rng, kills = random.Random(7), [0]
    state = {"proc": start_worker(home, log, 4), "starts": 1, "next": None}

    def tick() -> None:  # a kill every few seconds of a worker's life (its start-up is not counted)
        if state["next"] is None:
            if log.read_text().count("publishing worker:") >= state["starts"]:
                state["next"] = time.monotonic() + KILL_EVERY * rng.uniform(0.5, 1.5)
            return
        if time.monotonic() >= state["next"]:
            state["proc"].send_signal(signal.SIGKILL)
            state["proc"].wait(10)
            kills[0] += 1
            state["proc"], state["next"] = start_worker(home, log, 4), None
            state["starts"] += 1

    try:
        wait_ready([(state["proc"], log)])
        submit_all(h, world, "killed", tick)
        wait_final(h, 3 * n, timeout, tick)
        times, span, _ = job_times(h)
        with h.db.session() as s:
            msgs = [m for (m,) in s.execute(select(PublishEvent.message)).all()]
    finally:
        state["proc"].send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            state["proc"].wait(30)
        h.close()
    recovered = sum(m.startswith("recovered") for m in msgs)
    replays = sum("no second post" in m for m in msgs)
    return row(f"embedded queue, `hutong worker` SIGKILLed every ~{KILL_EVERY:.0f} s of its life", times, span, 3 * n,
               posts_on_platforms(world, "killed", n), kills=kills[0], recovered=recovered, replayed_creates=replays)  # fmt: skip


def run_naive(world: World, n: int) -> dict:
    """Upload, then create_video, for one target after another: what a script without a queue does."""
    h = fresh(world, "naive")
    times, failures = [], 0
    try:
        accounts = [h.distribution.accounts.get(p) for p in PLATFORMS]
        adapter = h.distribution.accounts.adapter("hutong")
        t0 = time.monotonic()
        for i, (clip, cert) in enumerate(world.clips):
            for acc in accounts:
                try:
                    conn = h.distribution.accounts.connection(acc.id)
                    up = adapter.upload(conn, clip)
                    adapter.create_post(conn, UploadState(up.upload_id, up.video_id), caption=f"naive {i}\n{ATTRIBUTION}",
                                        certificate=cert, idempotency_key=secrets.token_hex(16))  # fmt: skip
                    times.append(time.monotonic() - t0)
                except Exception:  # noqa: BLE001 — the naive publisher just moves on
                    failures += 1
        span = time.monotonic() - t0
    finally:
        h.close()
    return row("naive sequential publisher (no queue)", times, span, 3 * n, posts_on_platforms(world, "naive", n),
               errors=failures)  # fmt: skip


def naive_child(home: Path, plan: Path, done: Path) -> None:
    """The naive publisher as a script that can be killed: it notes each target once its post is made, and
    when started again it skips what it noted (what such scripts do)."""
    h = Hutong.create(installation_settings(home=home, **BENCH_SETTINGS))
    try:
        noted = {line.split()[0] for line in done.read_text().splitlines()} if done.exists() else set()
        adapter = h.distribution.accounts.adapter("hutong")
        accounts = [h.distribution.accounts.get(p) for p in PLATFORMS]
        print("naive publisher: ready", flush=True)
        with done.open("a") as log:
            for i, clip, cert in json.loads(plan.read_text()):
                for acc in accounts:
                    if f"{i}:{acc.name}" in noted:
                        continue
                    conn = h.distribution.accounts.connection(acc.id)
                    up = adapter.upload(conn, Path(clip))
                    adapter.create_post(conn, UploadState(up.upload_id, up.video_id), caption=f"naivekill {i}\n{ATTRIBUTION}",
                                        certificate=cert, idempotency_key=secrets.token_hex(16))  # fmt: skip
                    log.write(f"{i}:{acc.name} {time.time()}\n")
                    log.flush()
                    os.fsync(log.fileno())
    finally:
        h.close()


def run_naive_killed(world: World, n: int, timeout: float) -> dict:
    fresh(world, "naivekill").close()
    home, plan, done = world.tmp / "a-naivekill", world.tmp / "naive-plan.json", world.tmp / "naive-done.txt"
    plan.write_text(json.dumps([[i, str(c), t] for i, (c, t) in enumerate(world.clips)]))
    log, rng, kills = world.tmp / "naive.log", random.Random(7), 0
    t0, deadline = time.time(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.Popen([sys.executable, "-m", "bench.distribution", "--naive-child", str(home), str(plan),
                                 str(done)], env=child_env(home), stdout=log.open("a"), stderr=subprocess.STDOUT)  # fmt: skip
        starts = kills + 1
        while proc.poll() is None and log.read_text().count("ready") < starts:
            time.sleep(0.05)
        try:
            proc.wait(KILL_EVERY * rng.uniform(0.5, 1.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
            continue
        if proc.returncode != 0:
            raise RuntimeError(f"the naive publisher failed: {log.read_text()[-2000:]}")
        break
    first: dict[str, float] = {}
    for line in done.read_text().splitlines():
        key, at = line.split()
        first.setdefault(key, float(at) - t0)
    times = sorted(first.values())
    return row(f"naive sequential publisher, SIGKILLed every ~{KILL_EVERY:.0f} s of its life", times,
               max(times, default=0.0), 3 * n, posts_on_platforms(world, "naivekill", n), kills=kills)  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.distribution", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="distinct clips (targets: 3 × clips)")
    parser.add_argument("--no-report", action="store_true", help="print the results, write nothing")
    parser.add_argument(
        "--lease",
        type=float,
        default=10.0,
        help="seconds a worker holds a job without a sign of life, in the Redis runs (default 10)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        choices=("embedded", "redis", "killed", "rediskill", "naive", "naivekill"),
        help="run only these rows (default: all)",
    )
    parser.add_argument("--naive-child", nargs=3, metavar=("HOME", "PLAN", "DONE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.naive_child:
        naive_child(*(Path(p) for p in args.naive_child))
        return {}
    if args.clips < 2:
        parser.error("--clips must be at least 2")
    if not shutil.which("redis-server"):
        parser.error("redis-server is not installed (apt-get install redis-server; ./run bench does)")
    timeout = 60 + 3.0 * args.clips
    with (
        tempfile.TemporaryDirectory(prefix="hutong-bench-distribution-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmp)
        pa = free_port()
        a_url = f"http://127.0.0.1:{pa}"
        base = tmp / "a"
        h = Hutong.create(installation_settings(home=base, issuer=a_url, platform_name="creator-service",
                                                **BENCH_SETTINGS))  # fmt: skip
        try:
            clips = make_clips(h, tmp, args.clips)
            world = World(tmp, base, a_url, clips, clip_bytes=clips[0][0].stat().st_size, lease=args.lease)
            jwks = h.compliance.jwks()
            stack.enter_context(
                Background(
                    Starlette(routes=[Route("/.well-known/jwks.json", lambda _r: JSONResponse(jwks))]), pa
                )
            )
            for name in PLATFORMS:
                start_platform(world, name, stack, h)
        finally:
            h.close()
        runs = {
            "embedded": lambda: run_embedded(world, args.clips, timeout),
            "redis": lambda: run_redis(world, args.clips, timeout),
            "killed": lambda: run_killed(world, args.clips, timeout),
            "rediskill": lambda: run_redis(world, args.clips, timeout, kill=True),
            "naive": lambda: run_naive(world, args.clips),
            "naivekill": lambda: run_naive_killed(world, args.clips, timeout),
        }
        rows = []
        for name, run in runs.items():
            if not args.only or name in args.only:
                started = time.monotonic()
                rows.append(run())
                print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    results = {"clips": args.clips, "platforms": len(PLATFORMS), "targets": 3 * args.clips,
               "clip_kb": round(world.clip_bytes / 1024, 1), "lease_s": args.lease, "rows": rows}  # fmt: skip
    if not args.no_report:
        (DOCS / "benchmarks-distribution.json").write_text(json.dumps(results, indent=2) + "\n")
        write_report()
    return results


if __name__ == "__main__":
    if result := main():
        print(json.dumps(result, indent=2))
