"""The HTTP client every adapter talks through: the platform's outbound address policy
(:mod:`hutong.platform.outbound`) applied to every connection of every exchange — discovery, OAuth, each
upload part, create, status, take-down — not only when an account is connected. A connected account's
platform URL may later resolve elsewhere (DNS rebinding), and a platform's manifest or OAuth document names
further URLs (upload endpoints, token endpoints) that were never checked when the account was connected.

Each new connection resolves the host, checks every address it has, and connects to the checked address
(the name still goes in ``Host`` and, for https, in SNI and the certificate check). A refused address raises
:class:`AddressRefusedError` (an :class:`AdapterError`, ``failed``: retrying will not change the policy) before
anything is sent. Redirects are not followed (the adapters call with ``follow_redirects=False``), and proxies
from the environment are not used."""

from __future__ import annotations

import httpcore
import httpx

from hutong.distribute.adapters.base import AdapterError, Outcome
from hutong.platform.outbound import AddressRefused, Deadline, Outbound, Target, Unresolvable, normalise_host

RESOLVE_SECONDS = 10.0  # a name that takes longer to resolve is unreachable for now


class AddressRefusedError(AdapterError):
    """The platform's address is one the outbound policy does not reach (nothing was sent)."""


class _PolicyBackend(httpcore.NetworkBackend):
    def __init__(self, outbound: Outbound) -> None:
        self.outbound, self.inner = outbound, httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        name = host.decode("ascii") if isinstance(host, bytes) else str(host)
        try:
            target = Target("http", normalise_host(name), int(port), "")
            address = self.outbound.address(target, Deadline(timeout or RESOLVE_SECONDS))
        except AddressRefused as exc:
            raise AddressRefusedError(
                Outcome.FAILED,
                f"not called: {exc}; the outbound address policy reaches public addresses only "
                "(HUTONG_OUTBOUND_ALLOW_NETWORKS lists networks allowed besides)",
            ) from None
        except (Unresolvable, ValueError) as exc:
            raise httpcore.ConnectError(str(exc)) from None  # may resolve later: retried like any outage
        return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise httpcore.ConnectError("no unix sockets")

    def sleep(self, seconds: float) -> None:  # pragma: no cover
        self.inner.sleep(seconds)


class PolicyTransport(httpx.HTTPTransport):
    """httpx's own transport (pooling, TLS, HTTP/1.1) over connections the policy checked and pinned."""

    def __init__(self, outbound: Outbound, **kw) -> None:
        super().__init__(**kw)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=_PolicyBackend(outbound),
        )  # fmt: skip


def policy_client(outbound: Outbound, *, timeout: float = 30.0) -> httpx.Client:
    """The client adapters are built with: the policy on every connection, no proxies, no redirects."""
    return httpx.Client(
        transport=PolicyTransport(outbound), timeout=timeout, follow_redirects=False, trust_env=False
    )
