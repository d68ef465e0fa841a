"""`hutong serve` turns Nagle's algorithm off on every connection, whatever listening socket uvicorn holds."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from hutong.api.protocol import HTTP, H11NoDelay, no_delay


def accepted_nodelay(fix: bool) -> int:
    """TCP_NODELAY of a connection accepted on a listener bound the way uvicorn's ``--workers`` binds it."""
    listener = socket.socket(socket.AF_INET)  # proto left at 0, as uvicorn's Config.bind_socket leaves it
    listener.bind(("127.0.0.1", 0))
    seen: asyncio.Future

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            if fix:
                no_delay(transport)
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> int:
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
            server.close()

    return asyncio.run(main())


def test_a_pre_bound_listener_leaves_nagle_on_and_the_protocol_turns_it_off():
    assert accepted_nodelay(fix=False) == 0  # the premise: asyncio skips sockets whose proto is 0
    assert accepted_nodelay(fix=True) != 0


def test_uvicorn_loads_the_protocol_from_its_import_string():
    config = uvicorn.Config(lambda scope, receive, send: None, http=HTTP)
    config.load()
    assert config.http_protocol_class is H11NoDelay


def test_the_fix_leaves_other_sockets_alone():
    class Transport(asyncio.BaseTransport):
        def __init__(self, sock):
            super().__init__()
            self.sock = sock

        def get_extra_info(self, name, default=None):
            return self.sock if name == "socket" else default

    a, b = socket.socketpair()  # AF_UNIX: no TCP options to set
    try:
        no_delay(Transport(a))
        no_delay(Transport(None))
    finally:
        a.close()
        b.close()
