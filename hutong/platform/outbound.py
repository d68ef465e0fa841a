"""Outbound HTTP to addresses that users choose (link cards, webhooks): one address policy, one deadline.

- **Address policy.** Only global unicast addresses are reached: an address is refused unless
  ``ip.is_global``, and addresses that carry an IPv4 address inside IPv6 (IPv4-mapped, NAT64, 6to4) are judged
  by that IPv4 address too; IPv4-compatible, local-use NAT64 and Teredo addresses are refused outright.
  ``outbound_allow_networks`` lists networks allowed despite that (tests allow loopback).
- **The checked address is the one connected to.** A name is resolved once, every address it has must pass,
  and the connection goes to that address whatever a second DNS answer would say (DNS rebinding); the name
  still goes in the ``Host`` header and, for https, in SNI and the certificate check.
- **One deadline** for the whole exchange: name resolution, connect, TLS, every write and every read. A site
  that dribbles a byte at a time cannot hold a thread past it.
- **Concurrency bounds** (:class:`Slots`): beyond them a request is refused at once (429), never queued.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import threading
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx
import idna

from hutong.errors import PlatformError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT; cloud metadata lives here too
_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 IPv4-compatible (deprecated); also :: and ::1
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use NAT64
_TEREDO = ipaddress.ip_network("2001::/32")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


# -- the address policy ------------------------------------------------------------------------


def non_public(ip: IP) -> str | None:
    """Why ``ip`` is not a public address (a few words), or None when it is one. Decides on literals only."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            inner = non_public(ip.ipv4_mapped)
            return f"IPv4-mapped {inner}" if inner else None
        if ip in _COMPATIBLE:
            return "unspecified" if ip.is_unspecified else "loopback" if ip.is_loopback else "IPv4-compatible"
        if ip in _NAT64_LOCAL:
            return "local-use NAT64"
        if ip in _NAT64:
            inner = non_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            return f"NAT64 of a {inner} address" if inner else None
        if ip in _TEREDO:
            return "Teredo tunnel"
        if ip.sixtofour is not None and (inner := non_public(ip.sixtofour)):
            return f"6to4 of a {inner} address"
        if ip.is_site_local:
            return "site-local"
    elif ip in _SHARED:
        return "shared (carrier-grade NAT)"
    for word, flag in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):  # fmt: skip
        if flag:
            return word
    return None if ip.is_global else "non-global"


class Policy:
    """Which addresses outbound requests may reach: public ones, and ``allow_networks`` besides."""

    def __init__(self, allow_networks: Iterable[str] = ()) -> None:
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]

    def refusal(self, ip: IP) -> str | None:
        """Why ``ip`` may not be reached, or None."""
        inner = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if any(ip in net or (inner is not None and inner in net) for net in self.allowed):
            return None
        return non_public(ip)


# -- URLs and host names -----------------------------------------------------------------------


def normalise_host(host: str) -> str:
    """The form a host is compared and resolved in: an IP address as Python writes it, or a name after NFKC,
    lower case, IDNA (UTS #46, punycode) and without a trailing dot. Raises ValueError when it is no host."""
    host = unicodedata.normalize("NFKC", host).strip().lower()
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(literal))
    except ValueError:
        pass
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"{exc}") from None
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("a host name is dot-separated labels of 1-63 letters, digits and hyphens")
    return host


@dataclass(frozen=True)
class Target:
    """A checked http(s) URL: ``host`` normalised, ``port`` always set."""

    scheme: str
    host: str
    port: int
    url: str  # what is requested (without any user:password@)

    @property
    def literal(self) -> IP | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_target(url: str, what: str = "url") -> Target:
    """Raises PlatformError 422 saying what is wrong with ``url``; never a 500."""
    url = url.strip()
    if not url or len(url) > 4000 or any(c.isspace() or ord(c) < 32 for c in url):
        raise PlatformError(f"{what}: an http(s) URL of at most 4000 characters, without spaces", 422)
    try:
        parts = urlsplit(url)
        port = parts.port
        host = normalise_host(parts.hostname or "")
    except ValueError as exc:
        raise PlatformError(f"{what}: {url[:100]!r} is not a valid URL ({exc})", 422) from None
    if parts.scheme not in ("http", "https"):
        raise PlatformError(f"{what}: an http(s) URL (not {parts.scheme or 'a relative URL'})", 422)
    if port == 0:
        raise PlatformError(f"{what}: port 0 is not a port", 422)
    port = port or (443 if parts.scheme == "https" else 80)
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    try:  # percent-encodes the path and query as a client must send them
        clean = str(httpx.URL(parts._replace(netloc=netloc, fragment="").geturl()))
    except (httpx.InvalidURL, ValueError) as exc:
        raise PlatformError(f"{what}: {url[:100]!r} is not a valid URL ({exc})", 422) from None
    return Target(parts.scheme, host, port, clean)


# -- the deadline and the pinned connection ----------------------------------------------------


class OutboundError(Exception):
    """An outbound exchange did not happen or did not finish. The message is for logs, not for users."""


class AddressRefused(OutboundError):
    """The policy refuses the address (nothing was sent)."""


class Unresolvable(OutboundError):
    """The name does not resolve (in time)."""


class TimedOut(OutboundError):
    """The deadline passed."""


class Unreachable(OutboundError):
    """The connection failed or the answer was not HTTP."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.at = seconds, time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"the {self.seconds:g} s deadline passed")
        return left

    def within(self, timeout: float | None) -> float:
        return self.left() if timeout is None else min(timeout, self.left())


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self.inner, self.deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self.deadline.within(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self.deadline.within(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        inner = self.inner.start_tls(ssl_context, server_hostname, self.deadline.within(timeout))
        return _DeadlineStream(inner, self.deadline)

    def get_extra_info(self, info: str):
        return self.inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the address that passed the check, whatever host the URL names, within the deadline."""

    def __init__(self, address: str, deadline: Deadline) -> None:
        self.address, self.deadline, self.inner = address, deadline, httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self.inner.connect_tcp(
            self.address, port, self.deadline.within(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self.deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise httpcore.ConnectError("no unix sockets")

    def sleep(self, seconds: float) -> None:  # pragma: no cover
        time.sleep(min(seconds, self.deadline.left()))


# getaddrinfo cannot be interrupted: it runs here so that a slow DNS server costs at most the deadline
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hutong-resolve")


class Outbound:
    """Resolves, checks and talks to user-chosen URLs under one :class:`Policy`."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @classmethod
    def from_settings(cls, settings) -> Outbound:
        return cls(Policy(settings.outbound_allow_networks))

    def address(self, target: Target, deadline: Deadline) -> str:
        """The address to connect to: every address of the name must pass the policy."""
        if (ip := target.literal) is not None:
            addresses = [ip]
        else:
            future = _resolver.submit(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
            try:
                infos = future.result(timeout=max(deadline.at - time.monotonic(), 0.001))
            except FutureTimeout:
                raise Unresolvable(f"{target.host} did not resolve within {deadline.seconds:g} s") from None
            except (OSError, UnicodeError):
                raise Unresolvable(f"{target.host} does not resolve") from None
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        for ip in addresses:
            if (why := self.policy.refusal(ip)) is not None:
                raise AddressRefused(f"{target.host} is or resolves to a {why} address ({ip})")
        return str(addresses[0])

    def check(self, url: str, what: str, *, seconds: float = 5.0) -> Target:
        """Registration-time check of a URL the platform will call later (422 with the reason). A name that
        does not resolve and one that resolves inward get the same answer, so the check tells nobody which
        names exist inside the platform's network."""
        target = parse_target(url, what)
        if "@" in urlsplit(url.strip()).netloc:
            raise PlatformError(f"{what}: no user name or password in the URL", 422)
        try:
            self.address(target, Deadline(seconds))
        except AddressRefused as exc:
            if target.literal is not None:
                why = self.policy.refusal(target.literal)
                raise PlatformError(
                    f"{what}: {target.host} is a {why} address; only public addresses are called", 422
                ) from None
            raise PlatformError(f"{what}: {target.host} must resolve to public addresses only", 422) from exc
        except Unresolvable:
            raise PlatformError(f"{what}: {target.host} must resolve to public addresses only", 422) from None
        return target

    @contextmanager
    def exchange(
        self,
        method: str,
        target: Target,
        deadline: Deadline,
        *,
        headers: Sequence[tuple[str, str]] = (),
        content: bytes = b"",
    ) -> Iterator[httpcore.Response]:
        """One request to ``target`` (no redirects followed, no proxy, no content decoding), the address
        checked and pinned; every failure becomes an :class:`OutboundError`."""
        address = self.address(target, deadline)
        try:
            with httpcore.ConnectionPool(
                network_backend=_PinnedBackend(address, deadline), retries=0
            ) as pool:
                left = deadline.left()
                timeouts = {"connect": left, "read": left, "write": left, "pool": left}
                with pool.stream(method, target.url, headers=list(headers), content=content or None,
                                 extensions={"timeout": timeouts}) as response:  # fmt: skip
                    yield response
        except httpcore.TimeoutException:
            raise TimedOut(f"no complete answer within {deadline.seconds:g} s") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
            raise Unreachable(exc.__class__.__name__) from None


# -- bounded bodies --------------------------------------------------------------------------


class TooLarge(Exception):
    """The body (after decompression) is over the cap."""


def read_capped(chunks: Iterable[bytes], encoding: str, cap: int) -> bytes:
    """The body, decompressed (``identity``, ``gzip``, ``deflate``) as it streams; raises :class:`TooLarge`
    as soon as more than ``cap`` bytes come out, so a small compressed bomb never grows in memory."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        inflate = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflate = zlib.decompressobj(47)  # gzip or zlib header, detected
    else:
        raise ValueError(f"content encoding {encoding[:40]!r}")
    out = bytearray()
    for chunk in chunks:
        if inflate is None:
            out += chunk
        else:
            data = chunk
            while data and not inflate.eof:
                out += inflate.decompress(data, cap + 1 - len(out))
                data = inflate.unconsumed_tail
                if len(out) > cap:
                    break
        if len(out) > cap:
            raise TooLarge(f"over {cap} bytes")
    return bytes(out)


_NOT_TEXT = {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "mbcs", "oem"}


def text_encoding(name: str) -> str | None:
    """``name`` if it is a real text encoding Python knows (not base64, rot13, idna...), else None."""
    try:
        info = codecs.lookup(name.strip().strip("\"'"))
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_TEXT:
        return None
    return info.name


# -- concurrency bounds ----------------------------------------------------------------------


class Slots:
    """At most ``total`` at once and ``each`` per key; beyond that a request is refused (429), not queued, so
    waiting requests never pile up on the server's threads."""

    def __init__(self, total: int, each: int, what: str) -> None:
        self.total, self.each, self.what = total, each, what
        self._lock = threading.Lock()
        self._held: Counter = Counter()

    @contextmanager
    def hold(self, key) -> Iterator[None]:
        with self._lock:
            if self._held[key] >= self.each:
                raise PlatformError(
                    f"you already have {self.each} {self.what} in progress: try again when they finish", 429
                )
            if sum(self._held.values()) >= self.total:
                raise PlatformError(
                    f"the server is busy with {self.total} {self.what}: try again in a few seconds", 429
                )
            self._held[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if not self._held[key]:
                    del self._held[key]
