"""A real Milvus standalone server for the index tests: the one bundled by the PyPI package ``milvus``.

One server per test session (it takes 5-25 s to start), on free ports, its components announcing 127.0.0.1;
clients connect to 127.0.0.1 only. Milvus 2.3's gRPC servers listen on every interface and have no setting
to change that, so the server is reachable from the network for the few seconds the tests run.
"""

from __future__ import annotations

import gc
import os
import secrets
import socket
import warnings
from pathlib import Path

import pytest

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(milvus, data_dir: Path):
    class Config(milvus.MilvusServerConfig):
        def write_config(self):
            """Also give the embedded etcd a free peer port: the package leaves it at 2380, so a second
            server on the machine would fail to start."""
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
            text = yaml.read_text()
            yaml.write_text(text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n", 1))

    config = Config(data_dir=str(data_dir))
    for component in COMPONENTS:
        config.set(f"{component}.ip", "127.0.0.1")
    return config


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """The URI of a running Milvus, with HUTONG_MILVUS_URI and a collection prefix of its own set."""
    milvus = pytest.importorskip(
        "milvus", reason="the 'milvus' package (bundled Milvus server) is not installed"
    )
    config = _config(milvus, tmp_path_factory.mktemp("milvus"))
    server = milvus.MilvusServer(config, wait_for_started=False)
    try:
        with warnings.catch_warnings():  # the package leaves the sockets of ports it probed to the collector
            warnings.simplefilter("ignore", ResourceWarning)
            server.start()
            gc.collect()
        server.wait_started(timeout=120_000)
    except Exception as exc:
        server.stop()
        log = Path(config.base_data_dir, "logs", "milvus-stdout.log")
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        pytest.fail(f"the bundled Milvus server did not start ({exc}):\n{tail}")
    uri = f"http://127.0.0.1:{server.listen_port}"
    env = {"HUTONG_MILVUS_URI": uri, "HUTONG_MILVUS_COLLECTION_PREFIX": f"t{secrets.token_hex(4)}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield uri
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
