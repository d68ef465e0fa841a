"""The revenue ledger: double entry in integer minor units of ISO 4217 currencies. Every movement is one
transaction whose legs sum to zero; rows are only ever added (a correction is a new movement).

Accounts: ``platform:<reporter>`` (revenue a platform reported; it goes negative as it pays out),
``creator:<handle>``, ``holder:<name>`` and ``held:<claim>`` (revenue of a disputed or unreviewed claim,
paid to whoever wins)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from babel.numbers import get_currency_precision, is_currency
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from hutong.claims.policies import ClaimError
from hutong.store import Account, Claim, Database, LedgerEntry, Post, RevenueReport, Video

# revenue of a claim in these states waits in held:<claim>; in PAYING it goes to the holder
HOLDING = frozenset({"review", "disputed", "reinstated", "appealed"})
PAYING = frozenset({"active", "upheld"})
MAX_AMOUNT = 10**15  # minor units: far beyond any one post's revenue, well inside a 64-bit integer


def split(amount: int, weights: list[float]) -> list[int]:
    """``amount`` shared by ``weights`` in whole minor units (largest remainder): the parts add up exactly."""
    total = sum(weights)
    if amount == 0 or total <= 0:
        return [0] * len(weights)
    exact = [amount * w / total for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: amount - sum(parts)]:
        parts[i] += 1
    return parts


def currency_code(value: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if len(code) != 3 or not code.isalpha() or not is_currency(code):
        raise ClaimError(f"currency {value!r} is not an ISO 4217 code (CNY, USD, JPY…)")
    return code


def money(amount: int, currency: str) -> str:
    """Minor units as the decimal people read: 12345 CNY → '123.45'."""
    digits = get_currency_precision(currency)
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if digits == 0:
        return f"{sign}{amount}"
    whole, frac = divmod(amount, 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


@dataclass(frozen=True)
class Leg:
    account: str
    amount: int


class Ledger:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db, self.clock = db, clock

    # -- posting -----------------------------------------------------------------------------------

    def post(self, s: Session, legs: list[Leg], currency: str, kind: str, memo: str, *,
             report: int | None = None, claim: int | None = None) -> str:  # fmt: skip
        """Write one balanced transaction (legs of zero are left out)."""
        if sum(leg.amount for leg in legs) != 0:
            raise AssertionError(f"unbalanced movement {legs}")  # a bug, never user input
        txn, now = uuid.uuid4().hex, self.clock()
        rows = [{"txn": txn, "account": leg.account, "amount_minor": leg.amount, "currency": currency, "at": now,
                 "kind": kind, "memo": memo, "report_id": report, "claim_id": claim} for leg in legs if leg.amount]  # fmt: skip
        if rows:  # one statement for every leg (a month's reports are many small transactions)
            s.execute(insert(LedgerEntry), rows)
        return txn

    def settle(self, s: Session, claim: Claim) -> None:
        """After a claim's state changed: what it held goes to the winner once the claim is decided."""
        if claim.status in HOLDING:
            return
        to = f"creator:{claim.creator}" if claim.status == "released" else f"holder:{claim.holder}"
        held = f"held:{claim.code}"
        rows = s.execute(
            select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
            .where(LedgerEntry.account == held)
            .group_by(LedgerEntry.currency)
        ).all()
        for currency, balance in rows:
            if balance:
                self.post(s, [Leg(held, -balance), Leg(to, balance)], currency, "settle",
                          f"claim {claim.code} {claim.status}: held revenue to {to}", claim=claim.id)  # fmt: skip

    # -- revenue reports -----------------------------------------------------------------------------

    def report(self, reporter: str, report_id: str, post_id: str, amount_minor: int, currency: str,
               earned_at: datetime | None = None, *, app: str | None = None) -> dict:  # fmt: skip
        """A platform's revenue for one post. The same ``report_id`` again answers the first report. With
        ``app`` (an app reporting over HTTP), only that app's own posts."""
        if not isinstance(report_id, str) or not report_id.strip() or len(report_id) > 200:
            raise ClaimError("report_id: the platform's id of this report (1 to 200 characters)")
        if type(amount_minor) is not int:
            raise ClaimError("amount_minor: a whole number of minor units (fen, cents), not a fraction")
        if amount_minor < 0:
            raise ClaimError(f"amount_minor: revenue cannot be negative ({amount_minor})")
        if amount_minor == 0 or amount_minor > MAX_AMOUNT:
            raise ClaimError(f"amount_minor: from 1 to {MAX_AMOUNT}, not {amount_minor}")
        currency = currency_code(currency)
        earned_at = earned_at or self.clock()
        digest = hashlib.sha256(json.dumps([post_id, amount_minor, currency]).encode()).hexdigest()
        with self.db.session() as s:
            prior = s.execute(
                select(RevenueReport).where(
                    RevenueReport.reporter == reporter, RevenueReport.report_id == report_id
                )
            ).scalar_one_or_none()
            if prior is not None:
                if prior.request_hash != digest:
                    raise ClaimError(f"report {report_id!r} was already recorded with other figures", 409)
                return {**self._view(s, prior), "replay": True}
            post = s.get(Post, post_id) if isinstance(post_id, str) and len(post_id) <= 64 else None
            if post is None or (app is not None and post.client_id != app):
                mine = " made by this app" if app is not None else " on this platform"
                raise ClaimError(f"no post {str(post_id)[:64]!r}{mine}", 404)
            video = s.get(Video, post.video_id)
            rep = RevenueReport(reporter=reporter, report_id=report_id, post_id=post_id, amount_minor=amount_minor,
                                currency=currency, earned_at=earned_at, received_at=self.clock(),
                                request_hash=digest)  # fmt: skip
            s.add(rep)
            s.flush()
            claims = self.claims_of(s, post_id, video.sha256 if video else "")
            legs = self._distribute(s, rep, post, claims)
            return {**self._view(s, rep, legs), "replay": False}

    @staticmethod
    def claims_of(s: Session, post_id: str, sha256: str) -> list[Claim]:
        q = select(Claim).where(
            Claim.status.notin_(("released", "tracked")),
            (Claim.post_id == post_id) | (Claim.clip_sha256 == sha256),
        )
        return list(s.scalars(q.order_by(Claim.id)))

    def _distribute(self, s: Session, rep: RevenueReport, post: Post, claims: list[Claim]) -> list[Leg]:
        """A claimed post's revenue goes to its claimants, split by the clip seconds each one matched; a
        claim still under review or dispute holds its part."""
        source, creator = f"platform:{rep.reporter}", f"creator:{self._creator(s, post)}"
        legs = [Leg(source, -rep.amount_minor)]
        if not claims:
            legs.append(Leg(creator, rep.amount_minor))
        else:
            parts = split(rep.amount_minor, [max(c_seconds(c), 1e-9) for c in claims])
            for c, part in zip(claims, parts, strict=True):
                legs.append(Leg(f"held:{c.code}" if c.status in HOLDING else f"holder:{c.holder}", part))
        self.post(
            s, legs, rep.currency, "revenue", f"post {rep.post_id}: report {rep.report_id}", report=rep.id
        )
        return [leg for leg in legs if leg.amount]

    @staticmethod
    def _creator(s: Session, post: Post) -> str:
        """The creator is the platform user who posted (their username is their handle)."""
        account = s.get(Account, post.account_id)
        return account.username if account else f"account-{post.account_id}"

    @staticmethod
    def _view(s: Session, rep: RevenueReport, legs: list[Leg] | None = None) -> dict:
        if legs is None:
            q = select(LedgerEntry).where(LedgerEntry.report_id == rep.id).order_by(LedgerEntry.id)
            legs = [Leg(e.account, e.amount_minor) for e in s.scalars(q)]
        return {"report_id": rep.report_id, "post_id": rep.post_id, "amount_minor": rep.amount_minor,
                "currency": rep.currency, "earned_at": rep.earned_at.isoformat(),
                "legs": [{"account": leg.account, "amount_minor": leg.amount} for leg in legs]}  # fmt: skip

    # -- reading -------------------------------------------------------------------------------------

    def balances(self, prefix: str = "") -> dict[str, dict[str, int]]:
        with self.db.session() as s:
            q = select(
                LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)
            ).group_by(LedgerEntry.account, LedgerEntry.currency)
            if prefix:
                q = q.where(LedgerEntry.account.startswith(prefix))
            out: dict[str, dict[str, int]] = {}
            for account, currency, total in s.execute(q):
                out.setdefault(account, {})[currency] = int(total)
            return out

    def unbalanced(self) -> list[str]:
        """Transactions whose legs do not sum to zero (always empty; the property tests ask)."""
        with self.db.session() as s:
            q = (
                select(LedgerEntry.txn)
                .group_by(LedgerEntry.txn, LedgerEntry.currency)
                .having(func.sum(LedgerEntry.amount_minor) != 0)
            )
            return list(s.scalars(q))

    def statement(self, *, holder: str | None = None, creator: str | None = None,
                  start: datetime | None = None, end: datetime | None = None) -> dict:  # fmt: skip
        """Every movement of a holder's (or a creator's) account in ``[start, end)``, with totals per
        currency and what is still held on their claims."""
        if bool(holder) == bool(creator):
            raise ClaimError("a statement is for one holder or one creator")
        account = f"holder:{holder}" if holder else f"creator:{creator}"
        with self.db.session() as s:
            q = (
                select(LedgerEntry, RevenueReport.post_id, Claim.code)
                .outerjoin(RevenueReport, RevenueReport.id == LedgerEntry.report_id)
                .outerjoin(Claim, Claim.id == LedgerEntry.claim_id)
                .where(LedgerEntry.account == account)
                .order_by(LedgerEntry.at, LedgerEntry.id)
            )
            if start:
                q = q.where(LedgerEntry.at >= start)
            if end:
                q = q.where(LedgerEntry.at < end)
            lines, totals = [], {}
            for e, post_id, claim_code in s.execute(q):
                totals[e.currency] = totals.get(e.currency, 0) + e.amount_minor
                lines.append({"at": e.at.isoformat(), "txn": e.txn, "kind": e.kind, "post_id": post_id or "",
                              "claim": claim_code or "", "amount_minor": e.amount_minor, "currency": e.currency,
                              "amount": money(e.amount_minor, e.currency), "memo": e.memo})  # fmt: skip
            mine = Claim.holder == holder if holder else Claim.creator == creator
            held_q = (
                select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
                .join(Claim, LedgerEntry.account == "held:" + Claim.code)
                .where(mine)
                .group_by(LedgerEntry.currency)
            )
            held = {c: int(v) for c, v in s.execute(held_q) if v}
        return {"account": account, "holder": holder, "creator": creator,
                "start": start.isoformat() if start else None, "end": end.isoformat() if end else None,
                "lines": lines, "totals": totals,
                "totals_text": {c: money(v, c) for c, v in totals.items()}, "held": held}  # fmt: skip

    @staticmethod
    def csv(statement: dict) -> str:
        buf = io.StringIO()
        fields = ["at", "kind", "post_id", "claim", "amount", "currency", "amount_minor", "txn", "memo"]
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(statement["lines"])
        return buf.getvalue()


def c_seconds(c: Claim) -> float:
    """Clip seconds a claim matched (overlapping segments counted once): its weight in a revenue split."""
    total, reach = 0.0, float("-inf")
    for a, b in sorted((float(x["query_start"]), float(x["query_end"])) for x in c.segments):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total
