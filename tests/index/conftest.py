"""A real Milvus standalone server for the index tests: the one bundled by the PyPI package ``milvus``.

One server per test session (it takes 5-25 s to start), on free ports, its components announcing 127.0.0.1;
clients connect to 127.0.0.1 only. Milvus 2.3's gRPC servers listen on every interface and have no setting
to change that, so the server is reachable from the network for the few seconds the tests run.
"""

from __future__ import annotations

import os
import secrets

import pytest


@pytest.fixture(scope="session")
def milvus_server(milvus_process):
    """The URI of a running Milvus, with HUTONG_MILVUS_URI and a collection prefix of its own set."""
    return milvus_process[1]


@pytest.fixture(scope="session")
def milvus_process(tmp_path_factory):
    """(server, URI): the running Milvus itself, for tests that restart it (``milvus_local.restart``)."""
    pytest.importorskip("milvus", reason="the 'milvus' package (bundled Milvus server) is not installed")
    from hutong.index import milvus_local

    data = tmp_path_factory.mktemp("milvus")
    try:
        server, uri = milvus_local.start(data)
    except Exception as exc:
        log = data / "logs" / "milvus-stdout.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        pytest.fail(f"the bundled Milvus server did not start ({exc}):\n{tail}")
    env = {"HUTONG_MILVUS_URI": uri, "HUTONG_MILVUS_COLLECTION_PREFIX": f"t{secrets.token_hex(4)}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield server, uri
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
