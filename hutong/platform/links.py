"""Link cards instead of link blocking: any URL becomes a preview card (OpenGraph / HTML metadata).

The link policy screens for safety only — a configurable blocklist of malicious domains — and never for a
link belonging to another platform. Fetching is careful: http(s) only, no loopback/private/link-local/
reserved addresses (checked again on every redirect, and the checked address is the one connected to),
at most 3 redirects, a time limit and a size cap, HTML only. Every restriction is stored with its reason and shown to whoever posted the link.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import structlog
from sqlalchemy import select

from hutong.config import Settings
from hutong.errors import PlatformError
from hutong.store import Database, LinkRestriction

log = structlog.get_logger("hutong.links")
MAX_REDIRECTS = 3


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or "").lower()
            if key and "content" in a and key not in self.meta:
                self.meta[key] = a["content"].strip()[:1000]
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title and len(self.title) < 300:
            self.title += data


@dataclass
class Card:
    url: str
    status: str  # card | plain | restricted
    title: str = ""
    description: str = ""
    image: str = ""
    site_name: str = ""
    reason: str = ""
    redirects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Links:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db

    def _restrict(self, url: str, rule: str, reason: str, account_id: int | None, client_id: str) -> Card:
        with self.db.session() as s:
            s.add(
                LinkRestriction(
                    account_id=account_id, client_id=client_id, url=url[:4000], rule=rule, reason=reason
                )
            )
        log.info(
            "link.restricted",
            rule=rule,
            domain=urlsplit(url).hostname,
            account=account_id,
            app=client_id or None,
        )
        return Card(url, "restricted", reason=reason)

    def _blocked(self, host: str) -> str | None:
        host = host.lower().rstrip(".")
        for bad in self.settings.link_blocklist:
            bad = bad.lower().strip().rstrip(".")
            if bad and (host == bad or host.endswith("." + bad)):
                return bad
        return None

    def _resolve(self, host: str, port: int) -> tuple[str | None, str | None]:
        """(the address to connect to, or why not). Every address the name has must be public; the one
        returned is then used for the connection itself, so a second, different DNS answer (rebinding)
        cannot send the request somewhere internal."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            return None, f"{host} does not resolve"
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not self.settings.link_allow_private:
            for ip in addresses:
                if (
                    ip.is_private
                    or ip.is_loopback
                    or ip.is_link_local
                    or ip.is_multicast
                    or ip.is_reserved
                    or ip.is_unspecified
                ):
                    return (
                        None,
                        f"{host} resolves to a private or internal address ({ip}): link cards only read public sites",
                    )
        return str(addresses[0]), None

    def card(self, url: str, *, account_id: int | None = None, client_id: str = "") -> Card:
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 4000:
            raise PlatformError("url: an http(s) URL of at most 4000 characters", 422)
        if (bad := self._blocked(parts.hostname)) is not None:
            return self._restrict(
                url,
                "blocklist",
                f"{parts.hostname} is on the safety blocklist ({bad}): known for malicious content",
                account_id,
                client_id,
            )
        who = f"{account_id}:{client_id}"
        bucket = int(hashlib.sha256(who.encode()).hexdigest(), 16) % 100
        if bucket >= self.settings.link_rollout_percent:
            return Card(
                url,
                "plain",
                reason=f"link cards are being rolled out ({self.settings.link_rollout_percent}% of accounts so far): the link is shown as it is",
            )
        return self._fetch(url, account_id, client_id)

    def _fetch(self, url: str, account_id: int | None, client_id: str) -> Card:
        redirects: list[str] = []
        current = url
        with httpx.Client(
            timeout=self.settings.link_timeout,
            follow_redirects=False,
            headers={"User-Agent": "hutong-linkcard/1", "Accept": "text/html"},
        ) as http:
            for _ in range(MAX_REDIRECTS + 1):
                p = urlsplit(current)
                if p.scheme not in ("http", "https") or not p.hostname:
                    raise PlatformError(
                        f"the link redirects to {current[:200]!r}, which is not an http(s) URL", 422
                    )
                if (bad := self._blocked(p.hostname)) is not None:
                    return self._restrict(
                        url,
                        "blocklist",
                        f"the link redirects to {p.hostname}, which is on the safety blocklist ({bad})",
                        account_id,
                        client_id,
                    )
                ip, problem = self._resolve(p.hostname, p.port or (443 if p.scheme == "https" else 80))
                if problem is not None or ip is None:
                    return self._restrict(
                        url, "private-address", problem or "no address", account_id, client_id
                    )
                # connect to the address just checked; the name still goes in Host and, for TLS, in SNI and
                # the certificate check
                literal = f"[{ip}]" if ":" in ip else ip
                pinned = p._replace(netloc=literal + (f":{p.port}" if p.port else "")).geturl()
                host_header = p.hostname + (f":{p.port}" if p.port else "")
                tls = {"sni_hostname": p.hostname} if p.scheme == "https" else {}
                try:
                    with http.stream("GET", pinned, headers={"Host": host_header}, extensions=tls) as r:
                        if r.is_redirect:
                            nxt = r.headers.get("location", "")
                            if not nxt:
                                raise PlatformError("the site answered with a redirect to nowhere", 422)
                            redirects.append(current)
                            current = urljoin(current, nxt)
                            continue
                        if r.status_code >= 400:
                            raise PlatformError(f"the site answered HTTP {r.status_code}: no card", 422)
                        ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
                        if ctype not in ("text/html", "application/xhtml+xml"):
                            raise PlatformError(
                                f"the link is not an HTML page ({ctype or 'no content type'}): no card", 422
                            )
                        declared = r.headers.get("content-length", "")
                        if declared.isdigit() and int(declared) > self.settings.link_max_bytes:
                            raise PlatformError(
                                f"the page is {int(declared)} bytes, over the {self.settings.link_max_bytes} a card reads",
                                422,
                            )
                        body = b""
                        for chunk in r.iter_bytes():
                            body += chunk
                            if len(body) > self.settings.link_max_bytes:
                                raise PlatformError(
                                    f"the page is over the {self.settings.link_max_bytes} bytes a card reads",
                                    422,
                                )
                        encoding = r.encoding or "utf-8"
                except httpx.TimeoutException:
                    raise PlatformError(
                        f"the site did not answer within {self.settings.link_timeout:g} s", 504
                    ) from None
                except httpx.HTTPError as exc:
                    raise PlatformError(
                        f"the site could not be reached ({exc.__class__.__name__})", 502
                    ) from None
                meta = _Meta()
                meta.feed(body.decode(encoding, errors="replace"))
                m = meta.meta
                image = m.get("og:image", "")
                return Card(
                    url, "card", title=(m.get("og:title") or meta.title).strip()[:300],
                    description=(m.get("og:description") or m.get("description", ""))[:1000],
                    image=urljoin(current, image) if image else "", site_name=m.get("og:site_name", "")[:200], redirects=redirects,
                )  # fmt: skip
        raise PlatformError(f"the link redirects more than {MAX_REDIRECTS} times: no card", 422)

    def restrictions(self, account_id: int) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(
                select(LinkRestriction)
                .where(LinkRestriction.account_id == account_id)
                .order_by(LinkRestriction.id)
            ).scalars()
            return [{"url": r.url, "rule": r.rule, "reason": r.reason, "at": r.at.isoformat()} for r in rows]
