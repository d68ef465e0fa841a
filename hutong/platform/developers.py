"""Developer onboarding: individuals and enterprises, verified under the published review policy.

The legal representative's name and ID number are encrypted (AES-GCM) the moment they arrive, a memory-hard
keyed tag of the ID finds duplicates (kept only while the enterprise counts for the one-person limit), and only
masked forms are ever shown or logged. Every decision is stored with the policy version and rule, and can be
appealed.
"""

from __future__ import annotations

import json
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hutong.errors import PlatformError
from hutong.platform.bank import Bank
from hutong.platform.ids import (
    InvalidNumber,
    mask,
    mask_id,
    mask_name,
    validate_bank_account,
    validate_resident_id,
    validate_uscc,
)
from hutong.platform.policy import ReviewPolicy
from hutong.platform.vault import Vault
from hutong.store import Database, Developer, ReviewDecision, utcnow
from hutong.store.paging import ListQuery, Page, contains, page_of

log = structlog.get_logger("hutong.platform")
ATTESTATION_ALGS = ["Ed25519", "ES256", "RS256"]
CLOCK_SKEW = 300  # seconds an attester's clock may be ahead of or behind this platform's
# bidirectional overrides, embeddings and isolates: they make a name display as another ("\u202eoidutS")
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text(value: str, field: str, *, max_len: int, multiline: bool = False) -> str:
    """A name or a note as typed (NFC, trimmed), or a 422 that says what is wrong with it: no lone
    surrogates (valid JSON, but not text: they could not even be stored), no control characters (line breaks
    only where ``multiline``), no bidirectional overrides, and something visible."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise PlatformError(f"{field}: contains an unpaired surrogate (\\ud800-\\udfff): not text", 422)
    value = unicodedata.normalize("NFC", value).strip()
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise PlatformError(f"{field}: control characters are not allowed", 422)
    if BIDI_CONTROLS.intersection(value):
        raise PlatformError(f"{field}: bidirectional override characters (U+202A-202E, U+2066-2069)", 422)
    if not any(unicodedata.category(c)[0] in "LNPS" for c in value):
        raise PlatformError(f"{field}: say it with letters or digits (1-{max_len} characters)", 422)
    if len(value) > max_len:
        raise PlatformError(f"{field}: at most {max_len} characters", 422)
    return value


def person_name(value: str) -> str:
    """The legal representative's name: one line, letters in it, whitespace runs as one space."""
    if any(c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029" for c in value):
        raise PlatformError("legal_rep_name: one line", 422)
    name = " ".join(text(value, "legal_rep_name", max_len=200).split())
    if not any(unicodedata.category(c)[0] == "L" for c in name):
        raise PlatformError("legal_rep_name: a name has letters", 422)
    return name


@dataclass(frozen=True)
class DecisionView:
    id: int
    subject: str
    outcome: str
    rule: str
    rule_text: str
    reason: str
    policy_version: str
    decided_by: str
    at: datetime
    appeal_status: str
    appeal_resolution: str

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["at"] = self.at.isoformat()
        return d


@dataclass(frozen=True)
class ReviewRow:
    """A decision as a reviewer's list shows it: the developer (masked), the decision, the appeal's text."""

    developer: dict
    decision: DecisionView
    appeal_text: str


@dataclass(frozen=True)
class PendingRow:
    """A developer waiting for a reviewer (masked), with the decision that sent them to review."""

    developer: dict
    decision: DecisionView | None


DECISION_OUTCOMES = ("approved", "rejected", "pending", "suspended")
APPEAL_STATES = {"open": "open", "upheld": "upheld", "overturned": "overturned", "none": ""}


def developer_view(d: Developer) -> dict:
    """What any response, page, log line or export may show: legal-representative data only masked."""
    return {
        "id": d.id,
        "kind": d.kind,
        "display_name": d.display_name,
        "status": d.status,
        "company_name": d.company_name,
        "uscc": d.uscc,
        "route": d.route,
        "legal_representative": (
            {
                "name": d.legal_rep_name_masked,
                "id_number": d.legal_rep_id_masked,
                "deleted": d.legal_rep_deleted_at is not None,
            }
            if d.kind == "enterprise" and d.route == "resident_id"
            else None
        ),
        "policy_version": d.policy_version,
        "created_at": d.created_at.isoformat(),
        "verified_at": d.verified_at.isoformat() if d.verified_at else None,
    }


class Developers:
    def __init__(self, db: Database, policy: ReviewPolicy, vault: Vault, bank: Bank, home: Path) -> None:
        self.db, self.policy, self.vault, self.bank, self.home = db, policy, vault, bank, home

    # -- decisions -------------------------------------------------------------------------------

    def _decide(
        self,
        s: Session,
        dev: Developer,
        subject: str,
        outcome: str,
        rule: str,
        reason: str,
        by: str = "policy",
    ) -> ReviewDecision:
        d = ReviewDecision(
            developer_id=dev.id, subject=subject, outcome=outcome, rule=rule, reason=reason,
            policy_version=self.policy.version, decided_by=by,
        )  # fmt: skip
        s.add(d)
        s.flush()
        log.info(
            "review.decision",
            developer=dev.id,
            subject=subject,
            outcome=outcome,
            rule=rule,
            policy=self.policy.version,
        )
        return d

    def _view(self, d: ReviewDecision) -> DecisionView:
        return DecisionView(
            d.id, d.subject, d.outcome, d.rule, self.policy.rule(d.rule), d.reason, d.policy_version, d.decided_by,
            d.at, d.appeal_status, d.appeal_resolution,
        )  # fmt: skip

    def _verify(self, s: Session, dev: Developer, rule: str, reason: str, by: str = "policy") -> None:
        dev.status, dev.verified_at = "verified", utcnow()
        if dev.legal_rep_tag is None and dev.legal_rep_id_enc is not None:  # a rejection overturned
            rep = self.vault.decrypt(dev.legal_rep_id_enc, context=f"developer:{dev.id}:id")
            dev.legal_rep_tag = self.vault.legal_rep_tag(rep)
        self._decide(s, dev, "developer", "approved", rule, reason, by)
        if dev.kind == "enterprise" and self.policy.developers.delete_legal_rep_data_after_days == 0:
            self._erase(dev)

    def _reject(self, s: Session, dev: Developer, rule: str, reason: str, by: str = "policy") -> None:
        dev.status = "rejected"
        dev.legal_rep_tag = None  # a rejected enterprise does not count for the one-person limit
        self._decide(s, dev, "developer", "rejected", rule, reason, by)

    # -- registration ----------------------------------------------------------------------------

    def _new(self, s: Session, account_id: int, kind: str, display_name: str) -> Developer:
        if s.execute(select(Developer.id).where(Developer.account_id == account_id)).first():
            raise PlatformError("this account is already registered as a developer", 409)
        name = text(display_name, "display_name", max_len=200)
        dev = Developer(
            account_id=account_id,
            kind=kind,
            display_name=name,
            status="pending",
            policy_version=self.policy.version,
            evidence={},
        )
        s.add(dev)
        s.flush()
        return dev

    def register_individual(self, account_id: int, display_name: str) -> dict:
        text(display_name, "display_name", max_len=200)  # bad input is refused before anything is looked up
        with self.db.session() as s:
            dev = self._new(s, account_id, "individual", display_name)
            if self.policy.developers.individuals_allowed:
                self._verify(s, dev, "individual-allowed", "individual developers are accepted")
            else:
                self._reject(s, dev, "individual-allowed", "this platform's policy accepts enterprises only")
            return developer_view(dev)

    def register_enterprise(
        self,
        account_id: int,
        *,
        display_name: str,
        company_name: str,
        uscc: str,
        route: str,
        legal_rep_name: str = "",
        legal_rep_id: str = "",
        attestation: str = "",
        bank_account: str = "",
    ) -> dict:
        # malformed input is refused with the reason, nothing stored; numbers are compact ASCII from here on
        text(display_name, "display_name", max_len=200)
        try:
            code = validate_uscc(uscc)
        except InvalidNumber as exc:
            raise PlatformError(f"uscc: {exc}", 422) from None
        if not company_name.strip():
            raise PlatformError("company_name: required for an enterprise", 422)
        company = text(company_name, "company_name", max_len=300)
        if route not in ("resident_id", "attestation", "micro_deposit"):
            raise PlatformError("route: one of resident_id, attestation, micro_deposit", 422)
        rep_id = name = tag = account = ""
        if route == "resident_id":
            if not legal_rep_name.strip():
                raise PlatformError("legal_rep_name: required for the resident_id route", 422)
            name = person_name(legal_rep_name)
            try:
                rep_id = validate_resident_id(legal_rep_id)
            except InvalidNumber as exc:
                raise PlatformError(f"legal_rep_id: {exc}", 422) from None
            tag = self.vault.legal_rep_tag(rep_id)  # slow on purpose: before the transaction, not inside it
        if route == "attestation":
            if not attestation.strip():
                raise PlatformError(
                    "attestation: the signed attestation (a compact JWS) is required for this route", 422
                )
            if not attestation.strip().isascii():
                raise PlatformError("attestation: a compact JWS is ASCII (base64url and dots)", 422)
        if route == "micro_deposit":
            try:
                account = validate_bank_account(bank_account)
            except InvalidNumber as exc:
                raise PlatformError(f"bank_account: {exc}", 422) from None
        with self.db.session() as s:
            dev = self._new(s, account_id, "enterprise", display_name)
            dev.company_name, dev.uscc, dev.route = company, code, route
            if rep_id:
                ctx = f"developer:{dev.id}"
                dev.legal_rep_name_enc = self.vault.encrypt(name, context=ctx + ":name")
                dev.legal_rep_id_enc = self.vault.encrypt(rep_id, context=ctx + ":id")
                dev.legal_rep_key_id = self.vault.active
                dev.legal_rep_tag = tag
                dev.legal_rep_id_masked, dev.legal_rep_name_masked = mask_id(rep_id), mask_name(name)
            self._review_enterprise(s, dev, attestation=attestation, bank_account=account)
            return developer_view(dev)

    def _review_enterprise(self, s: Session, dev: Developer, *, attestation: str, bank_account: str) -> None:
        rules = self.policy.developers
        if dev.route not in rules.accepted_routes:
            return self._reject(
                s,
                dev,
                "route-accepted",
                f"the {dev.route} route is not accepted; accepted: {', '.join(rules.accepted_routes)}",
            )
        taken = s.execute(
            select(Developer.id).where(
                Developer.uscc == dev.uscc, Developer.id != dev.id, Developer.status == "verified"
            )
        ).first()
        if taken:
            return self._reject(
                s,
                dev,
                "uscc-unique",
                f"enterprise {dev.uscc} is already registered by another developer account; appeal if that account is no longer yours",
            )
        if dev.route == "resident_id":
            same = s.execute(
                select(func.count(Developer.id)).where(
                    Developer.legal_rep_tag == dev.legal_rep_tag,
                    Developer.id != dev.id,
                    Developer.status == "verified",
                )
            ).scalar_one()
            if same >= rules.max_enterprises_per_legal_rep:
                self._decide(
                    s,
                    dev,
                    "developer",
                    "pending",
                    "legal-rep-limit",
                    f"this legal representative already backs {same} verified enterprises; a reviewer will look at it",
                )
                return None
            return self._verify(
                s,
                dev,
                "verified",
                "unified social credit code and legal representative's ID are well-formed and not in conflict",
            )
        if dev.route == "attestation":
            why, evidence = self._check_attestation(attestation, dev.uscc or "")
            if why:
                return self._reject(s, dev, "attestation-valid", why)
            dev.evidence = evidence
            return self._verify(
                s,
                dev,
                "attestation-valid",
                f"attested by {dev.evidence.get('attester')} on {dev.evidence.get('verified_on')}",
            )
        # micro_deposit: send an amount, wait for the applicant to confirm it
        amount = secrets.randbelow(99) + 1
        reference = f"HUTONG-{dev.id}-{secrets.token_hex(3).upper()}"
        self.bank.deposit(bank_account, amount, reference)
        dev.evidence = {
            "reference": reference, "amount_hmac": self.vault.fingerprint(f"{dev.id}:{amount}", purpose="deposit"),
            "account": mask(bank_account),
        }  # fmt: skip
        self._decide(
            s,
            dev,
            "developer",
            "pending",
            "micro-deposit-confirmed",
            f"a deposit under 1.00 CNY was sent to account {mask(bank_account)} with reference {reference}: confirm its amount",
        )
        return None

    def _check_attestation(self, token: str, uscc: str) -> tuple[str | None, dict]:
        """(None, evidence) when acceptable, otherwise (why not, {}). No ID number is involved."""
        if not self.policy.trusted_attesters:
            return "this platform trusts no attesters yet", {}
        for attester in self.policy.trusted_attesters:
            path = Path(attester.jwks)
            path = path if path.is_absolute() else self.home / path
            try:
                keys = KeySet.import_key_set(json.loads(path.read_text()))
                decoded = jwt.decode(token.strip(), keys, algorithms=ATTESTATION_ALGS)
            except (OSError, ValueError, TypeError, JoseError):
                continue  # not this attester's signature
            c = decoded.claims
            if c.get("iss") != attester.issuer:
                continue
            if c.get("sub") != uscc:
                return f"the attestation is about {c.get('sub')!r}, not this enterprise", {}
            if c.get("legal_representative_verified") is not True:
                return "the attestation does not state that the legal representative was verified", {}
            why = _attestation_times(c)
            if why:
                return why, {}
            on = _verified_on(c.get("verified_on"))
            if on is None:
                return "the attestation's verified_on is not a date (YYYY-MM-DD)", {}
            # a date alone is a day somewhere on Earth: it may already be that day at UTC+14
            latest = (
                utcnow() + timedelta(seconds=CLOCK_SKEW) + (timedelta(hours=14) if on[1] else timedelta())
            )
            if on[0] > latest:
                return f"the attestation's verified_on is in the future ({on[0]:%Y-%m-%d})", {}
            max_age = self.policy.developers.attestation_max_age_days
            if utcnow() - on[0] > timedelta(days=max_age):
                return f"the attestation is from {on[0]:%Y-%m-%d}, older than {max_age} days", {}
            return None, {"attester": attester.issuer, "verified_on": on[0].date().isoformat()}
        return "the attestation is not signed by a trusted attester (or was altered)", {}

    # -- follow-up steps -------------------------------------------------------------------------

    def _mine(self, s: Session, account_id: int) -> Developer:
        dev = s.execute(select(Developer).where(Developer.account_id == account_id)).scalar_one_or_none()
        if dev is None:
            raise PlatformError("this account is not registered as a developer", 404)
        return dev

    def confirm_deposit(self, account_id: int, amount_cents: int) -> dict:
        limit = self.policy.developers.micro_deposit_attempts
        with self.db.session() as s:
            # Take an attempt first, in the database: one conditional UPDATE, so concurrent guesses cannot
            # all read "3 left" (it is also this transaction's first statement, so it holds the write lock
            # from here to the verdict, which is stored in the same transaction)
            taken = s.execute(
                update(Developer)
                .where(
                    Developer.account_id == account_id,
                    Developer.route == "micro_deposit",
                    Developer.status == "pending",
                    Developer.deposit_attempts < limit,
                )
                .values(deposit_attempts=Developer.deposit_attempts + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            dev = self._mine(s, account_id)  # loaded after the UPDATE: this transaction's count
            ev = dict(dev.evidence or {})
            if taken != 1 or "amount_hmac" not in ev:
                raise PlatformError("there is no deposit waiting for confirmation", 409)
            if (
                self.vault.fingerprint(f"{dev.id}:{int(amount_cents)}", purpose="deposit")
                == ev["amount_hmac"]
            ):
                dev.evidence = {k: v for k, v in ev.items() if k != "amount_hmac"}
                self._verify(s, dev, "micro-deposit-confirmed", f"deposit {ev['reference']} confirmed")
                return developer_view(dev)
            left = limit - dev.deposit_attempts
            if left <= 0:
                dev.evidence = {k: v for k, v in ev.items() if k != "amount_hmac"}
                self._reject(
                    s,
                    dev,
                    "micro-deposit-confirmed",
                    "the deposited amount was not confirmed within the allowed attempts",
                )
                return developer_view(dev)
        raise PlatformError(f"that is not the amount deposited; {left} attempt(s) left", 422)

    def mine(self, account_id: int) -> dict:
        with self.db.session() as s:
            return developer_view(self._mine(s, account_id))

    def verified_developer_id(self, account_id: int) -> int:
        with self.db.session() as s:
            dev = self._mine(s, account_id)
            if dev.status != "verified":
                raise PlatformError(
                    f"the developer account is {dev.status}, not verified: see your review decisions", 403
                )
            return dev.id

    def decisions(self, account_id: int) -> list[DecisionView]:
        with self.db.session() as s:
            dev = self._mine(s, account_id)
            rows = s.execute(
                select(ReviewDecision)
                .where(ReviewDecision.developer_id == dev.id)
                .order_by(ReviewDecision.id)
            ).scalars()
            return [self._view(d) for d in rows]

    def appeal(self, account_id: int, decision_id: int, why: str) -> DecisionView:
        why = text(why, "appeal", max_len=5000, multiline=True)
        if len(why) < 10:
            raise PlatformError("appeal: say why in 10-5000 characters", 422)
        with self.db.session() as s:
            dev = self._mine(s, account_id)
            d = s.get(ReviewDecision, decision_id)
            if d is None or d.developer_id != dev.id:
                raise PlatformError(f"no decision {decision_id} about this developer", 404)
            if d.outcome == "approved":
                raise PlatformError("an approval cannot be appealed", 409)
            if d.appeal_status:
                raise PlatformError(f"this decision was already appealed ({d.appeal_status})", 409)
            d.appeal_text, d.appeal_status = why, "open"
            return self._view(d)

    # -- the reviewer's lists: one count and one page query each, joined, sorted and filtered in SQL ----

    def pending_page(self, query: ListQuery) -> Page[PendingRow]:
        """Developers waiting for manual review, with the decision that sent them there (masked data only).
        Filters: ``kind`` (individual, enterprise), ``route``; text: name, company or USCC."""
        latest = (
            select(func.max(ReviewDecision.id))
            .where(ReviewDecision.developer_id == Developer.id, ReviewDecision.subject == "developer")
            .correlate(Developer)
            .scalar_subquery()
        )
        stmt = (
            select(Developer, ReviewDecision)
            .outerjoin(ReviewDecision, ReviewDecision.id == latest)
            .where(Developer.status == "pending")
        )
        if kind := query.filters.get("kind"):
            stmt = stmt.where(Developer.kind == kind)
        if route := query.filters.get("route"):
            stmt = stmt.where(Developer.route == route)
        if query.text:
            stmt = stmt.where(
                contains(Developer.display_name, query.text)
                | contains(Developer.company_name, query.text)
                | contains(Developer.uscc, query.text)
            )
        columns = {"id": Developer.id, "name": Developer.display_name, "applied": Developer.created_at}
        with self.db.session() as s:
            return page_of(
                s, stmt, query, columns=columns, default="applied", tiebreak=Developer.id,
                row=lambda r: PendingRow(developer_view(r[0]), self._view(r[1]) if r[1] is not None else None),
            )  # fmt: skip

    def decisions_page(self, query: ListQuery, *, open_appeals: bool = False) -> Page[ReviewRow]:
        """Every review decision (or only those with an open appeal), with its developer. Filters:
        ``outcome``, ``rule``, ``appeal`` (open, upheld, overturned, none), ``about`` (developer, app);
        text: the reason, the subject or the developer's name."""
        stmt = select(ReviewDecision, Developer).join(Developer, Developer.id == ReviewDecision.developer_id)
        f = query.filters
        if open_appeals:
            stmt = stmt.where(ReviewDecision.appeal_status == "open")
        elif f.get("appeal") in APPEAL_STATES:
            stmt = stmt.where(ReviewDecision.appeal_status == APPEAL_STATES[f["appeal"]])
        if outcome := f.get("outcome"):
            stmt = stmt.where(ReviewDecision.outcome == outcome)
        if rule := f.get("rule"):
            stmt = stmt.where(ReviewDecision.rule == rule)
        if f.get("about") == "developer":
            stmt = stmt.where(ReviewDecision.subject == "developer")
        elif f.get("about") == "app":
            stmt = stmt.where(ReviewDecision.subject.startswith("app:"))
        if query.text:
            stmt = stmt.where(
                contains(ReviewDecision.reason, query.text)
                | contains(ReviewDecision.subject, query.text)
                | contains(Developer.display_name, query.text)
            )
        columns = {"id": ReviewDecision.id, "at": ReviewDecision.at, "outcome": ReviewDecision.outcome,
                   "rule": ReviewDecision.rule, "developer": Developer.display_name}  # fmt: skip
        with self.db.session() as s:
            return page_of(
                s, stmt, query, columns=columns, default="id",
                tiebreak=ReviewDecision.id,
                row=lambda r: ReviewRow(developer_view(r[1]), self._view(r[0]), r[0].appeal_text),
            )  # fmt: skip

    def open_appeals(self) -> list[tuple[dict, DecisionView]]:
        with self.db.session() as s:
            rows = s.execute(
                select(ReviewDecision)
                .where(ReviewDecision.appeal_status == "open")
                .order_by(ReviewDecision.id)
            ).scalars()
            return [(developer_view(s.get(Developer, d.developer_id)), self._view(d)) for d in rows]

    def resolve_appeal(self, decision_id: int, *, overturn: bool, note: str, staff: str) -> DecisionView:
        if not note.strip():
            raise PlatformError("say why (the applicant sees it)", 422)
        note = text(note, "note", max_len=5000, multiline=True)
        with self.db.session() as s:
            d = s.get(ReviewDecision, decision_id)
            if d is None or d.appeal_status != "open":
                raise PlatformError(f"decision {decision_id} has no open appeal", 404)
            d.appeal_status, d.appeal_resolution = ("overturned" if overturn else "upheld"), note.strip()
            dev = s.get(Developer, d.developer_id)
            if overturn and d.subject == "developer":
                self._verify(
                    s, dev, d.rule, f"decision overturned on appeal by {staff}: {note.strip()}", staff[:64]
                )
            return self._view(d)

    def decide_pending(self, developer_id: int, *, approve: bool, note: str, staff: str) -> dict:
        """Manual review of a pending developer (e.g. the legal-rep-limit rule)."""
        note = text(note, "note", max_len=5000, multiline=True)
        with self.db.session() as s:
            dev = s.get(Developer, developer_id)
            if dev is None or dev.status != "pending":
                raise PlatformError(f"developer {developer_id} is not pending review", 404)
            if approve:
                self._verify(s, dev, "verified", f"manual review by {staff}: {note}", staff[:64])
            else:
                self._reject(s, dev, "legal-rep-limit", f"manual review by {staff}: {note}", staff[:64])
            return developer_view(dev)

    # -- legal-representative data ---------------------------------------------------------------

    @staticmethod
    def _erase(dev: Developer) -> None:
        # What stays: the masks (the last two characters of the ID, the name's first character) for the
        # applicant to recognise, and, while the enterprise is verified or pending, the memory-hard tag the
        # one-person limit needs (see Vault.legal_rep_tag). A rejected one counts for nothing: no tag.
        dev.legal_rep_name_enc = dev.legal_rep_id_enc = None
        dev.legal_rep_key_id = ""
        dev.legal_rep_deleted_at = utcnow()
        if dev.status == "rejected":
            dev.legal_rep_tag = None

    def erase_legal_rep(self, account_id: int) -> dict:
        with self.db.session() as s:
            dev = self._mine(s, account_id)
            if dev.status == "pending":
                raise PlatformError(
                    "the legal representative's data is kept until the review is finished", 409
                )
            self._erase(dev)
            return developer_view(dev)

    def purge_due(self) -> int:
        """Erase legal-representative data that the policy says is due for deletion: of developers verified
        that many days ago, and of those rejected that many days ago with no appeal open."""
        days = self.policy.developers.delete_legal_rep_data_after_days
        if days < 0:
            return 0
        cutoff = utcnow() - timedelta(days=days)
        with self.db.session() as s:
            appealing = select(ReviewDecision.developer_id).where(ReviewDecision.appeal_status == "open")
            last_decided = (
                select(func.max(ReviewDecision.at))
                .where(ReviewDecision.developer_id == Developer.id)
                .scalar_subquery()
            )
            due = s.execute(
                select(Developer).where(
                    Developer.legal_rep_id_enc.is_not(None),
                    (
                        (Developer.status == "verified") & (Developer.verified_at <= cutoff)
                        | (Developer.status == "rejected")
                        & (last_decided <= cutoff)
                        & Developer.id.not_in(appealing)
                    ),
                )
            ).scalars()
            n = 0
            for dev in due:
                self._erase(dev)
                n += 1
            return n

    def legal_rep_for_review(self, developer_id: int) -> tuple[str, str]:
        """Decrypt for a reviewer (the only place the plain ID exists, never logged or returned by the API)."""
        with self.db.session() as s:
            dev = s.get(Developer, developer_id)
            if dev is None or dev.legal_rep_id_enc is None or dev.legal_rep_name_enc is None:
                raise PlatformError("no legal-representative data is stored for this developer", 404)
            ctx = f"developer:{dev.id}"
            return self.vault.decrypt(dev.legal_rep_name_enc, context=ctx + ":name"), self.vault.decrypt(
                dev.legal_rep_id_enc, context=ctx + ":id"
            )

    def reencrypt(self) -> int:
        """After :meth:`Vault.rotate`: move every stored record to the active key."""
        with self.db.session() as s:
            rows = s.execute(
                select(Developer).where(
                    Developer.legal_rep_id_enc.is_not(None), Developer.legal_rep_key_id != self.vault.active
                )
            ).scalars()
            n = 0
            for dev in rows:
                ctx = f"developer:{dev.id}"
                name = self.vault.decrypt(dev.legal_rep_name_enc, context=ctx + ":name")
                rep = self.vault.decrypt(dev.legal_rep_id_enc, context=ctx + ":id")
                dev.legal_rep_name_enc = self.vault.encrypt(name, context=ctx + ":name")
                dev.legal_rep_id_enc = self.vault.encrypt(rep, context=ctx + ":id")
                dev.legal_rep_key_id = self.vault.active
                n += 1
            return n


def _attestation_times(claims: dict) -> str | None:
    """Why the attestation's ``exp``, ``nbf`` or ``iat`` refuse it now (a few minutes of skew allowed)."""
    registry = jwt.JWTClaimsRegistry(leeway=CLOCK_SKEW)
    for claim, refused in (("exp", "has expired"), ("nbf", "is not valid before"), ("iat", "was issued in")):
        if claim not in claims:
            continue
        value = claims[claim]
        if isinstance(value, float) and not math.isfinite(value):  # JSON parsers take NaN and Infinity
            return f"the attestation's {claim} is not a NumericDate (seconds since 1970)"
        try:
            getattr(registry, f"validate_{claim}")(value)
        except ExpiredTokenError:
            return f"the attestation {refused} ({_when(value)})"
        except JoseError:
            if not isinstance(value, int | float) or isinstance(value, bool):
                return f"the attestation's {claim} is not a NumericDate (seconds since 1970)"
            if claim == "iat":
                return f"the attestation was issued in the future ({_when(value)})"
            return f"the attestation {refused} {_when(value)}"
    return None


def _when(seconds: float) -> str:
    try:
        return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S} UTC"
    except (OverflowError, OSError, ValueError):
        return "a time out of range"


def _verified_on(value: object) -> tuple[datetime, bool] | None:
    """``verified_on`` as a UTC datetime, and whether it was a date alone; None unless an ISO 8601 string
    in ASCII (Python's parser also takes other digits and compact forms)."""
    if not isinstance(value, str) or not value.isascii() or len(value) < 10 or value[4] != "-":
        return None
    try:
        on = datetime.fromisoformat(value)
    except ValueError:
        return None
    date_only = len(value) == 10
    on = on.replace(tzinfo=UTC) if on.tzinfo is None else on.astimezone(UTC)
    return on, date_only
