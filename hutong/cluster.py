"""`hutong cluster up`: the several-machine layout of docs/deploy.md on one machine's loopback, to try.

PostgreSQL 15 (a data folder under ``HUTONG_HOME/cluster``; as root, initdb runs as the ``postgres`` user),
Redis (Debian's ``redis-server``), the bundled Milvus standalone server (``hutong.index.milvus_local``), a
load balancer answering at the issuer's URL, ``cluster_api_processes`` × ``hutong serve`` behind it and
``cluster_workers`` × ``hutong worker``: every process points at one database, one Redis, one Milvus and one
``HUTONG_HOME`` (keys, uploads, clips: the shared media store). Every port is a free one. ``stop()`` (Ctrl-C,
or ``hutong cluster down`` from another shell) stops everything, in the reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from hutong.api.background import free_port
from hutong.config import Settings
from hutong.errors import HutongError

STATE = "cluster.json"  # in HUTONG_HOME/cluster: what runs, for `hutong cluster down`
START_SECONDS = 120.0


class ClusterError(HutongError):
    pass


@dataclass
class Part:
    """One process of the cluster: what it is, where it answers, where it logs."""

    name: str
    url: str
    log: Path
    proc: subprocess.Popen | None = None
    pid: int | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _as_postgres(args: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; the Debian package brings a postgres user
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Balancer:
    """A TCP load balancer on loopback: each connection goes to the next API process in turn (what a
    real deployment's load balancer or ingress does at the issuer's URL)."""

    def __init__(self, port: int, backends: list[int]) -> None:
        self.port, self.backends = port, backends
        self._next = itertools.cycle(backends)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hutong-cluster-balancer", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> Balancer:
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise ClusterError(f"the load balancer could not listen on 127.0.0.1:{self.port}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
            self._ready.set()

        try:
            self._loop.run_until_complete(serve())
        except OSError:
            self._ready.set()
            return
        self._loop.run_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in self.backends:  # a backend that is down: try the next one
            port = next(self._next)
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


@dataclass
class Cluster:
    """The processes of one trial cluster (see the module docstring)."""

    settings: Settings
    env: dict[str, str] = field(default_factory=dict)  # more settings for every hutong process
    parts: list[Part] = field(default_factory=list)
    database_url: str = ""
    redis_url: str = ""
    milvus_uri: str = ""
    issuer: str = ""
    _pg_data: Path | None = None
    _pg_temporary: bool = False
    _redis: subprocess.Popen | None = None
    _redis_port: int = 0
    _milvus = None
    _balancer: Balancer | None = None
    _logs: list = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.settings.home / "cluster"

    # -- starting ------------------------------------------------------------------------------------
    def start(self) -> Cluster:
        self._check()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "logs").mkdir(exist_ok=True)
        try:
            self._start_postgres()
            self._start_redis()
            self._start_milvus()
            self._prepare()
            api_ports = [free_port() for _ in range(self.settings.cluster_api_processes)]
            for i, port in enumerate(api_ports, 1):
                self._spawn(f"api-{i}", ["serve", "--port", str(port)], f"http://127.0.0.1:{port}")
            self._balancer = Balancer(self._issuer_port, api_ports).start()
            for i in range(1, self.settings.cluster_workers + 1):
                self.start_worker(f"worker-{i}")
            self._wait_healthy()
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _check(self) -> None:
        missing = []
        if not (self.settings.cluster_postgres_bin / "initdb").exists():
            missing.append(
                f"PostgreSQL 15 server ({self.settings.cluster_postgres_bin}/initdb: apt-get install postgresql-15)"
            )
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            missing.append("runuser (util-linux), to run PostgreSQL as the postgres user")
        if shutil.which("redis-server") is None:
            missing.append("redis-server (apt-get install redis-server)")
        for module, extra in (
            ("psycopg", "postgres"),
            ("redis", "test"),
            ("pymilvus", "milvus"),
            ("milvus", "test"),
        ):
            try:
                __import__(module)
            except ImportError:
                missing.append(f"the Python package {module} (pip install 'hutong[{extra}]')")
        if missing:
            raise ClusterError("hutong cluster up needs " + "; ".join(missing))
        state = self.folder / STATE
        if state.exists():
            running = json.loads(state.read_text()).get("pid")
            if running and _alive(running):
                raise ClusterError(
                    f"a cluster of this HUTONG_HOME already runs (process {running}): `hutong cluster down`"
                )

    def _start_postgres(self) -> None:
        bin_ = self.settings.cluster_postgres_bin
        data = self.folder / "postgres"
        if os.geteuid() == 0 and not _reachable_by_postgres(self.folder):
            # the postgres user cannot reach HUTONG_HOME (e.g. under /root): a temporary cluster instead
            import tempfile

            data = Path(tempfile.mkdtemp(prefix="hutong-cluster-pg-")) / "data"
            self._pg_temporary = True
        fresh = not (data / "PG_VERSION").exists()
        if fresh:
            data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(data.parent, "postgres", "postgres")
                shutil.chown(data, "postgres", "postgres")
            _run(_as_postgres([str(bin_ / "initdb"), "-D", str(data), "-U", "hutong", "--auth=trust", "-E", "UTF8"]),
                 "initdb")  # fmt: skip
        port = free_port()
        log = data / "server.log"
        _run(_as_postgres([str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                           f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"]), "pg_ctl start")  # fmt: skip
        self._pg_data = data
        if fresh:
            _run(_as_postgres([str(bin_ / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hutong", "hutong"]),
                 "createdb")  # fmt: skip
        self.database_url = f"postgresql+psycopg://hutong@127.0.0.1:{port}/hutong"
        self.parts.append(Part("postgresql", f"postgresql://hutong@127.0.0.1:{port}/hutong", log))

    def _start_redis(self, port: int | None = None) -> None:
        folder = self.folder / "redis"
        folder.mkdir(exist_ok=True)
        self._redis_port = port or self._redis_port or free_port()
        log = self.folder / "logs" / "redis.log"
        # append-only file: queued jobs survive a restart of Redis (the database holds their state anyway)
        self._redis = subprocess.Popen(
            ["redis-server", "--port", str(self._redis_port), "--bind", "127.0.0.1", "--dir", str(folder),
             "--appendonly", "yes", "--save", "", "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.redis_url = f"redis://127.0.0.1:{self._redis_port}/0"
        _wait(lambda: _redis_ping(self.redis_url), "redis-server", self._redis, log)
        if not any(p.name == "redis" for p in self.parts):
            self.parts.append(Part("redis", self.redis_url, log))
        for p in self.parts:
            if p.name == "redis":
                p.proc = self._redis

    def stop_redis(self) -> None:
        """Stop Redis at once (SIGKILL: as if it crashed); ``start_redis`` brings it back on its port."""
        if self._redis is not None and self._redis.poll() is None:
            self._redis.kill()
            self._redis.wait(10)

    def start_redis(self) -> None:
        self._start_redis(self._redis_port)

    def _start_milvus(self) -> None:
        from hutong.index import milvus_local

        data = self.folder / "milvus"
        self._milvus, self.milvus_uri = milvus_local.start(data)
        self.parts.append(Part("milvus", self.milvus_uri, data / "logs" / "milvus-stdout.log"))

    def _prepare(self) -> None:
        """One process creates the schema and the keys and stores the issuer before the others start."""
        from hutong.app import Hutong
        from hutong.config import get_settings, resolve_issuer, stored_issuer

        self.issuer = stored_issuer(self.settings.home) or ""
        if self.issuer:  # an earlier run's issuer: certificates name it, so the balancer takes its port again
            from urllib.parse import urlsplit

            self._issuer_port = urlsplit(self.issuer).port or 80
        else:
            self._issuer_port = free_port()
            self.issuer = f"http://127.0.0.1:{self._issuer_port}"
        settings = resolve_issuer(get_settings(**self._overrides()), first=self.issuer)
        self.issuer = settings.issuer
        Hutong.create(settings).close()

    def _overrides(self) -> dict[str, object]:
        return {
            "home": self.settings.home,
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "index_backend": "milvus",
            "milvus_uri": self.milvus_uri,
            "behind_proxy": True,
        }

    def process_env(self) -> dict[str, str]:
        """The environment of every hutong process of the cluster."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
        ours = {f"HUTONG_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in self._overrides().items()}  # fmt: skip
        return {**inherited, **ours, "HUTONG_ISSUER": self.issuer, **self.env}

    def _spawn(self, name: str, args: list[str], url: str) -> Part:
        log = self.folder / "logs" / f"{name}.log"
        out = log.open("a")
        self._logs.append(out)
        proc = subprocess.Popen([sys.executable, "-m", "hutong", *args], env=self.process_env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        part = next((p for p in self.parts if p.name == name), None)
        if part is None:
            part = Part(name, url, log)
            self.parts.append(part)
        part.proc, part.pid = proc, proc.pid
        return part

    def start_worker(self, name: str) -> Part:
        """Start (or start again) one `hutong worker`."""
        log = self.folder / "logs" / f"{name}.log"
        before = log.stat().st_size if log.exists() else 0
        part = self._spawn(name, ["worker"], "")
        _wait(lambda: "publishing worker:" in log.read_text(errors="replace")[before:], name, part.proc, log)
        return part

    def start_api(self, name: str) -> Part:
        """Start one API process again, on its port (the balancer sends it connections once it answers)."""
        part = next((p for p in self.parts if p.name == name and p.name.startswith("api-")), None)
        if part is None:
            raise ClusterError(f"no API process {name!r} in this cluster")
        if part.alive():
            return part
        port = urlsplit(part.url).port
        part = self._spawn(name, ["serve", "--port", str(port)], part.url)
        self._wait_answering(part, time.monotonic() + START_SECONDS)
        return part

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        for part in [p for p in self.parts if p.name.startswith("api-")] + [
            Part("balancer", self.issuer, Path())
        ]:
            self._wait_answering(part, deadline)

    @staticmethod
    def _wait_answering(part: Part, deadline: float) -> None:
        while True:
            if part.proc is not None and part.proc.poll() is not None:
                raise ClusterError(f"{part.name} exited: {_tail(part.log)}")
            try:
                r = httpx.get(part.url + "/.well-known/openid-configuration", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"{part.name} did not answer in {START_SECONDS:.0f} s: {_tail(part.log)}")
            time.sleep(0.2)

    def _write_state(self) -> None:
        state = {"pid": os.getpid(), "issuer": self.issuer,
                 "parts": [{"name": p.name, "url": p.url, "pid": p.proc.pid if p.proc else None, "log": str(p.log)}
                           for p in self.parts]}  # fmt: skip
        (self.folder / STATE).write_text(json.dumps(state, indent=1))

    def describe(self) -> dict:
        """What runs where (`hutong cluster up --json`)."""
        return {
            "issuer": self.issuer,
            "api": [p.url for p in self.parts if p.name.startswith("api-")],
            "workers": [p.pid for p in self.parts if p.name.startswith("worker-")],
            "database_url": self.database_url,
            "database_temporary": self._pg_temporary,
            "redis_url": self.redis_url,
            "milvus_uri": self.milvus_uri,
            "home": str(self.settings.home),
            "logs": str(self.folder / "logs"),
            "env": {k: v for k, v in self.process_env().items() if k.startswith("HUTONG_")},
        }

    # -- stopping ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every part, hutong processes first (SIGINT: workers finish their jobs' current step)."""
        hutong_parts = [p for p in self.parts if p.name.startswith(("api-", "worker-"))]
        for p in hutong_parts:
            if p.alive():
                p.proc.send_signal(signal.SIGINT)
        for p in hutong_parts:
            if p.proc is not None:
                try:
                    p.proc.wait(30)
                except subprocess.TimeoutExpired:
                    p.proc.kill()
                    p.proc.wait(10)
        if self._balancer is not None:
            self._balancer.stop()
            self._balancer = None
        if self._milvus is not None:
            self._milvus.stop()
            self._milvus = None
        if self._redis is not None and self._redis.poll() is None:
            self._redis.terminate()
            try:
                self._redis.wait(10)
            except subprocess.TimeoutExpired:
                self._redis.kill()
        if self._pg_data is not None:
            subprocess.run(_as_postgres([str(self.settings.cluster_postgres_bin / "pg_ctl"), "-D", str(self._pg_data),
                                         "-m", "fast", "-w", "stop"]), capture_output=True)  # fmt: skip
            if self._pg_temporary:
                shutil.rmtree(self._pg_data.parent, ignore_errors=True)
            self._pg_data = None
        for out in self._logs:
            out.close()
        self._logs.clear()
        with contextlib.suppress(OSError):
            state = self.folder / STATE
            if state.exists() and json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def down(settings: Settings, timeout: float = 90.0) -> int | None:
    """Ask the `hutong cluster up` of this HUTONG_HOME to stop (SIGTERM) and wait for it; its process id,
    or None when none runs."""
    state = settings.home / "cluster" / STATE
    if not state.exists():
        return None
    pid = json.loads(state.read_text()).get("pid")
    if not pid or not _alive(pid):
        state.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster (process {pid}) did not stop in {timeout:.0f} s")
        time.sleep(0.2)
    return pid


# -- helpers ---------------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) is not running
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
            return False
    return True


def _reachable_by_postgres(folder: Path) -> bool:
    r = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(folder)], capture_output=True)
    return r.returncode == 0


def _run(args: list[str], what: str) -> None:
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise ClusterError(f"{what} failed: {(r.stderr or r.stdout).strip()[-800:]}")


def scratch_redis(log: Path) -> tuple[subprocess.Popen, str]:
    """A throw-away ``redis-server`` on a free loopback port, nothing written to disk (tests, benchmarks):
    the process and its URL, once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: _redis_ping(url), "redis-server", proc, log, timeout=20)
    except ClusterError:
        proc.kill()
        raise
    return proc, url


def _redis_ping(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _wait(ready, what: str, proc: subprocess.Popen | None, log: Path, timeout: float = START_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"{what} exited: {_tail(log)}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} did not start in {timeout:.0f} s: {_tail(log)}")
        time.sleep(0.1)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-1500:]
    except OSError:
        return "(no log)"


__all__ = ["Cluster", "ClusterError", "down"]
