"""The Milvus standalone server bundled by the PyPI package ``milvus`` (a test dependency, not a runtime
one), started on free loopback ports: the index tests and the scale benchmark run against it. Its components
announce 127.0.0.1; Milvus 2.3's gRPC servers still listen on every interface (no setting changes that)."""

from __future__ import annotations

import gc
import socket
import warnings
from pathlib import Path

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data_dir: Path):
    """(server, uri): a running server whose data lives in ``data_dir``; call ``server.stop()``."""
    import milvus

    class Config(milvus.MilvusServerConfig):
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
            yaml.write_text(
                yaml.read_text().replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n", 1)
            )

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


def restart(server) -> None:
    """Stop ``server`` (SIGTERM, SIGKILL after a second) and start it again on its data and ports."""
    server.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        server.start()  # its ports were resolved before: it asks for the same ones again
        gc.collect()
    server.wait_started(timeout=120_000)
