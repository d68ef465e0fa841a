"""Link cards instead of link blocking: any URL becomes a preview card (OpenGraph / HTML metadata).

The link policy screens for safety only — a configurable blocklist of malicious domains, compared after the
host is normalised (NFKC, lower case, IDNA) — and never for a link belonging to another platform. Fetching
goes through :mod:`hutong.platform.outbound`: http(s) only, public addresses only (checked again on every
redirect, and the checked address is the one connected to), at most 3 redirects, one deadline for the whole
fetch, a cap on the decompressed size, HTML only, and a bound on fetches at once (per account and in all).
Every restriction is stored with its reason and shown to whoever posted the link.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import structlog
from sqlalchemy import select

from hutong.config import Settings
from hutong.errors import PlatformError
from hutong.platform.outbound import (
    AddressRefused,
    Deadline,
    Outbound,
    Slots,
    TimedOut,
    TooLarge,
    Unreachable,
    Unresolvable,
    normalise_host,
    parse_target,
    read_capped,
    text_encoding,
)
from hutong.store import Account, Database, LinkRestriction
from hutong.store.paging import ListQuery, Page, contains, page_of

log = structlog.get_logger("hutong.links")
MAX_REDIRECTS = 3
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.I)


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
    def __init__(self, settings: Settings, db: Database, outbound: Outbound) -> None:
        self.settings, self.db = settings, db
        self.outbound = outbound
        self.slots = Slots(settings.link_max_fetches, settings.link_max_fetches_per_account, "link cards")
        self.blocklist = []
        for bad in settings.link_blocklist:
            try:
                self.blocklist.append(normalise_host(bad))
            except ValueError:
                self.blocklist.append(bad.strip().lower().rstrip("."))

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
        """``host`` is already normalised."""
        for bad in self.blocklist:
            if bad and (host == bad or host.endswith("." + bad)):
                return bad
        return None

    def card(self, url: str, *, account_id: int | None = None, client_id: str = "") -> Card:
        url = url.strip()
        target = parse_target(url)
        if (bad := self._blocked(target.host)) is not None:
            return self._restrict(
                url,
                "blocklist",
                f"{target.host} is on the safety blocklist ({bad}): known for malicious content",
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
        with self.slots.hold(account_id if account_id is not None else f"app:{client_id}"):
            return self._fetch(url, account_id, client_id)

    def _fetch(self, url: str, account_id: int | None, client_id: str) -> Card:
        deadline = Deadline(self.settings.link_timeout)
        cap = self.settings.link_max_bytes
        headers = [("User-Agent", "hutong-linkcard/1"), ("Accept", "text/html"),
                   ("Accept-Encoding", "gzip, deflate")]  # fmt: skip
        redirects: list[str] = []
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = parse_target(current)
            except PlatformError:
                raise PlatformError(
                    f"the link redirects to {current[:200]!r}, which is not a valid http(s) URL", 422
                ) from None
            if (bad := self._blocked(target.host)) is not None:
                return self._restrict(
                    url,
                    "blocklist",
                    f"the link redirects to {target.host}, which is on the safety blocklist ({bad})",
                    account_id,
                    client_id,
                )
            try:
                with self.outbound.exchange("GET", target, deadline, headers=headers) as r:
                    head = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in r.headers}
                    if r.status in (301, 302, 303, 307, 308):
                        nxt = head.get("location", "")
                        if not nxt:
                            raise PlatformError("the site answered with a redirect to nowhere", 422)
                        redirects.append(current)
                        current = urljoin(current, nxt)
                        continue
                    if r.status >= 400:
                        raise PlatformError(f"the site answered HTTP {r.status}: no card", 422)
                    ctype, _, params = head.get("content-type", "").partition(";")
                    ctype = ctype.strip().lower()
                    if ctype not in ("text/html", "application/xhtml+xml"):
                        raise PlatformError(
                            f"the link is not an HTML page ({ctype or 'no content type'}): no card", 422
                        )
                    declared = head.get("content-length", "").strip()
                    if declared.isdigit() and int(declared) > cap:
                        raise PlatformError(
                            f"the page is {int(declared)} bytes, over the {cap} a card reads", 422
                        )
                    try:
                        body = read_capped(r.iter_stream(), head.get("content-encoding", ""), cap)
                    except TooLarge:
                        raise PlatformError(f"the page is over the {cap} bytes a card reads", 422) from None
                    except ValueError as exc:  # an encoding other than gzip/deflate, or corrupt data
                        raise PlatformError(f"the page could not be read ({exc}): no card", 422) from None
            except (AddressRefused, Unresolvable):
                where = "is not" if target.literal is not None else "does not resolve to"
                return self._restrict(
                    url,
                    "private-address",
                    f"{target.host} {where} a public address: link cards only read public sites",
                    account_id,
                    client_id,
                )
            except TimedOut:
                raise PlatformError(
                    f"the site did not answer within {self.settings.link_timeout:g} s", 504
                ) from None
            except Unreachable as exc:
                raise PlatformError(f"the site could not be reached ({exc})", 502) from None
            meta = _Meta()
            try:
                text = body.decode(_charset(params, body), errors="replace")
            except (UnicodeError, LookupError):
                text = body.decode("utf-8", errors="replace")
            meta.feed(text)
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

    def restrictions_page(self, query: ListQuery) -> Page[dict]:
        """The restriction log for the platform's reviewers: every restricted link with its rule and reason,
        and who posted it. Filter ``rule`` (blocklist, private-address); text: the URL or the reason."""
        stmt = select(LinkRestriction, Account.username).outerjoin(
            Account, Account.id == LinkRestriction.account_id
        )
        if rule := query.filters.get("rule"):
            stmt = stmt.where(LinkRestriction.rule == rule)
        if query.text:
            stmt = stmt.where(
                contains(LinkRestriction.url, query.text) | contains(LinkRestriction.reason, query.text)
            )
        columns = {"at": LinkRestriction.at, "rule": LinkRestriction.rule, "url": LinkRestriction.url}
        with self.db.session() as s:
            return page_of(
                s, stmt, query, columns=columns, default="at", tiebreak=LinkRestriction.id,
                row=lambda r: {"id": r[0].id, "url": r[0].url, "rule": r[0].rule, "reason": r[0].reason,
                               "at": r[0].at, "username": r[1] or "", "client_id": r[0].client_id},
            )  # fmt: skip


def _charset(params: str, body: bytes) -> str:
    """The page's text encoding: the Content-Type charset, else a ``<meta charset>`` near the top, else
    UTF-8. Names that are no text encoding (base64, rot13, idna...) are ignored."""
    for part in params.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and (name := text_encoding(value)):
            return name
    if (m := _META_CHARSET.search(body[:2048])) and (name := text_encoding(m.group(1).decode("ascii"))):
        return name
    return "utf-8"
