"""The Milvus standalone server bundled by the PyPI package ``milvus`` (a test dependency, not a runtime
one), started on free loopback ports: the index tests and the scale benchmark run against it. Its components
announce 127.0.0.1; Milvus 2.3's gRPC servers still listen on every interface (no setting changes that)."""

from __future__ import annotations

import gc
import socket
import time
import warnings
from pathlib import Path

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: merge the segments of a fresh collection before its index is built, not after (one indexing instead of
#: one per merge round; see hutong.index.milvus_backend.COMPACT_ROWS)
ALWAYS = {"indexBasedCompaction: true": "indexBasedCompaction: false"}
#: for one build of most of the disk (``bench.scale --compare`` at 10,000 h: 18 GB of vectors). With the
#: defaults, Milvus sealed segments at 118 MB while rows streamed in and merged them into 512 MB ones, in
#: rounds: 50 GB of segment files and 17 GB of message log for 18 GB of vectors, and the disk ran out.
#: These settings stop the merging while rows stream in (segment files grew as the rows did), delete
#: merged-away files after a minute (not 3 hours) and free the message log's disk every 5 minutes (not
#: daily). Not enough yet (docs/deploy.md, *Not done yet*): segments were still sealed at ~600 MB (at a
#: cap on binlog files, it seems, not at ``maxSize``), the build's own merge into 4 GB segments rewrote
#: them faster than they were deleted, and the message log kept 19 GB.
BULK_BUILD = {
    "    maxSize: 512 # Maximum size of a segment in MB": "    maxSize: 4096",
    "    sealProportion: 0.23": "    sealProportion: 0.99",
    "    enableAutoCompaction: true": "    enableAutoCompaction: false",
    "    interval: 3600 # gc interval in seconds": "    interval: 60",
    "    dropTolerance: 10800": "    dropTolerance: 60",
    "  retentionSizeInMB: 8192": "  retentionSizeInMB: 512",
    "  compactionInterval: 86400": "  compactionInterval: 300",
}


def start(data_dir: Path, bulk_build: bool = False):
    """(server, uri): a running server whose data lives in ``data_dir``; call ``server.stop()``.
    ``bulk_build``: the settings of ``BULK_BUILD``."""
    import milvus

    class Config(milvus.MilvusServerConfig):
        def try_bind_port(self, port):
            # as Milvus itself binds (Go sets SO_REUSEADDR): a port whose last connections are still in
            # TIME_WAIT, as after a restart, is free; one another process listens on is not
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
                return sock
            except OSError:
                sock.close()
                return None

        def write_config(self):
            # the package leaves the embedded etcd's peer port at 2380: give it a free one
            super().write_config()
            client, peer = self.get("etcd_port"), _free_port()
            etcd = Path(self.base_data_dir, "configs", "etcd.yaml")
            etcd.write_text(
                f"listen-peer-urls: http://127.0.0.1:{peer}\n"
                f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
                f"initial-cluster: default=http://127.0.0.1:{peer}\n"
                f"listen-client-urls: http://127.0.0.1:{client}\n"
                f"advertise-client-urls: http://127.0.0.1:{client}\n"
            )
            yaml = Path(self.base_data_dir, "configs", "milvus.yaml")
            text = yaml.read_text().replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n", 1)
            for was, now in {**ALWAYS, **(BULK_BUILD if bulk_build else {})}.items():
                if was not in text:
                    raise RuntimeError(f"this Milvus package's milvus.yaml has no {was.strip()!r}")
                text = text.replace(was, now, 1)
            yaml.write_text(text)

    config = Config(data_dir=str(data_dir))
    for component in COMPONENTS:
        config.set(f"{component}.ip", "127.0.0.1")
    server = milvus.MilvusServer(config, wait_for_started=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        server.start()
        gc.collect()
    server.wait_started(timeout=120_000)
    return server, f"http://127.0.0.1:{server.listen_port}"


def restart(server, timeout: float = 60.0) -> None:
    """Stop ``server`` (SIGTERM, SIGKILL after a second) and start it again on its data and its ports (its
    clients keep their URI); a port still held by the old process's closing connections is waited for."""
    config = server.config
    server.stop()
    # the proxy's port given explicitly (clients know it): the package binds it or fails, never moves on;
    # the internal ports may move (another process may have taken one meanwhile)
    config.configs["proxy_port"] = config.get("proxy_port")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                server.start()
                gc.collect()
            break
        except RuntimeError as exc:
            if "bind failed" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    server.wait_started(timeout=120_000)
