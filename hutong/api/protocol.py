"""The HTTP protocol `hutong serve` runs under uvicorn: h11, with Nagle's algorithm off on every connection.

With ``--workers N`` uvicorn binds the listening socket itself and leaves its ``proto`` at 0; accepted sockets
inherit it, and asyncio turns ``TCP_NODELAY`` on only for sockets that say ``IPPROTO_TCP``. Each keep-alive
response then waited for the client's delayed ACK: a fixed ~45 ms per request on Linux, every route alike
(uvicorn issue 3149). Setting the option per connection fixes it whatever socket uvicorn was handed.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class H11NoDelay(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)


#: uvicorn's ``http`` option (an import string, so the worker processes of ``--workers N`` load it too)
HTTP = "hutong.api.protocol:H11NoDelay"
