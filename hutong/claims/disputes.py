"""Disputes and appeals, with deadlines. The creator disputes within 30 days of the claim; the holder
reinstates or releases within 30 days, or the claim is released; a reinstated claim may be appealed within
7 days, and the holder answers an appeal within 7 days, or the claim is released. Every step is a claim
event both sides see; the deadlines run from :meth:`Disputes.run_deadlines` (a job on the queue)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from hutong.claims.claims import Claims, view
from hutong.claims.policies import ClaimError
from hutong.store import Database, Dispute

DISPUTE_DAYS = 30  # the creator may dispute a claim this long after it was made
ANSWER_DAYS = 30  # the holder answers a dispute within this
APPEAL_DAYS = (
    7  # the creator appeals a reinstatement within this, and the holder answers an appeal within this
)
REASONS = ("licence", "fair-use", "public-domain", "own-footage", "not-a-match")


class Disputes:
    def __init__(self, db: Database, claims: Claims, clock: Callable[[], datetime]) -> None:
        self.db, self.claims, self.clock = db, claims, clock

    def _claim(self, s, code: str, creator: str):
        c = self.claims.find(s, code)
        who = creator.strip().lstrip("@").lower()
        if c.creator != who:
            raise ClaimError(
                f"claim {c.code} is on @{c.creator}'s clip: only @{c.creator} may dispute it", 403
            )
        return c, s.scalar(select(Dispute).where(Dispute.claim_id == c.id))

    def open(self, code: str, creator: str, reason: str, text: str = "") -> dict:
        if reason not in REASONS:
            raise ClaimError(f"reason {reason!r}: one of {', '.join(REASONS)}")
        if len(text) > 5000:
            raise ClaimError("the dispute's text has at most 5000 characters")
        now = self.clock()
        with self.db.session() as s:
            c, prior = self._claim(s, code, creator)
            if prior is not None:
                raise ClaimError(
                    f"claim {c.code} was already disputed on {prior.opened_at:%Y-%m-%d} ({prior.state})", 409
                )
            if c.status in ("released", "tracked"):
                raise ClaimError(f"claim {c.code} is {c.status}: there is nothing to dispute", 409)
            if now > c.created_at + timedelta(days=DISPUTE_DAYS):
                raise ClaimError(
                    f"claim {c.code} was made on {c.created_at:%Y-%m-%d}: disputes are open for {DISPUTE_DAYS} days, "
                    f"until {c.created_at + timedelta(days=DISPUTE_DAYS):%Y-%m-%d}",
                    409,
                )
            d = Dispute(claim_id=c.id, creator=c.creator, reason=reason, text=text.strip(), state="open",
                        opened_at=now, due_at=now + timedelta(days=ANSWER_DAYS), appeal_text="")  # fmt: skip
            s.add(d)
            self.claims.move(s, c, "disputed", f"creator:{c.creator}", "disputed",
                             f"{reason}: {text.strip()} (holder answers by {d.due_at:%Y-%m-%d})")  # fmt: skip
            return view(c, d, events=True)

    def answer(self, code: str, holder: str, decision: str, note: str = "") -> dict:
        """The holder's answer to a dispute (``reinstate`` or ``release``) or to an appeal (``uphold`` or
        ``release``)."""
        now = self.clock()
        with self.db.session() as s:
            c = self.claims.find(s, code)
            self.claims.owned(c, holder)
            d = s.scalar(select(Dispute).where(Dispute.claim_id == c.id))
            if d is None or d.state not in ("open", "appealed"):
                raise ClaimError(f"claim {c.code} has no dispute or appeal waiting for an answer", 409)
            allowed = ("reinstate", "release") if d.state == "open" else ("uphold", "release")
            if decision not in allowed:
                raise ClaimError(
                    f"decision {decision!r}: {' or '.join(allowed)} (the {'dispute' if d.state == 'open' else 'appeal'} is open)"
                )
            actor = f"holder:{holder}"
            if decision == "release":
                d.state, d.closed_at = "released", now
                self.claims.move(s, c, "released", actor, "released", note or "released after the dispute")
            elif decision == "reinstate":
                d.state, d.due_at = "reinstated", now + timedelta(days=APPEAL_DAYS)
                self.claims.move(s, c, "reinstated", actor, "reinstated",
                                 f"{note} (the creator may appeal until {d.due_at:%Y-%m-%d})".strip())  # fmt: skip
            else:
                d.state, d.closed_at = "upheld", now
                self.claims.move(s, c, "upheld", actor, "upheld", note or "appeal rejected: the claim stands")
            return view(c, d, events=True)

    def appeal(self, code: str, creator: str, text: str) -> dict:
        if not text.strip():
            raise ClaimError("say why you appeal (the holder and platform staff read it)")
        now = self.clock()
        with self.db.session() as s:
            c, d = self._claim(s, code, creator)
            if d is None or d.state != "reinstated":
                raise ClaimError(
                    f"claim {c.code} was not reinstated after a dispute: there is nothing to appeal", 409
                )
            if now > d.due_at:
                raise ClaimError(f"the appeal window of claim {c.code} closed on {d.due_at:%Y-%m-%d}", 409)
            d.state, d.appeal_text, d.due_at = (
                "appealed",
                text.strip()[:5000],
                now + timedelta(days=APPEAL_DAYS),
            )
            self.claims.move(s, c, "appealed", f"creator:{c.creator}", "appealed",
                             f"{text.strip()[:5000]} (holder answers by {d.due_at:%Y-%m-%d})")  # fmt: skip
            return view(c, d, events=True)

    def run_deadlines(self, now: datetime | None = None) -> dict:
        """Everything whose deadline passed: unanswered disputes and appeals released, reinstatements not
        appealed in time upheld, claims left in review released."""
        now = now or self.clock()
        done = {"released": 0, "upheld": 0, "expired": 0}
        with self.db.session() as s:
            for d in list(s.scalars(select(Dispute).where(Dispute.state.in_(("open", "reinstated", "appealed")),
                                                          Dispute.due_at <= now))):  # fmt: skip
                c = self.claims.find_by_id(s, d.claim_id)
                if d.state == "reinstated":
                    d.state, d.closed_at = "upheld", now
                    self.claims.move(
                        s, c, "upheld", "hutong", "upheld", f"not appealed within {APPEAL_DAYS} days"
                    )
                    done["upheld"] += 1
                else:
                    days = ANSWER_DAYS if d.state == "open" else APPEAL_DAYS
                    what = "dispute" if d.state == "open" else "appeal"
                    d.state, d.closed_at = "released", now
                    self.claims.move(s, c, "released", "hutong", "released",
                                     f"the holder did not answer the {what} within {days} days")  # fmt: skip
                    done["released"] += 1
        done["expired"] = self.claims.expire(now)
        return done
