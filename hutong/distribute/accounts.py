"""Connected accounts: a creator's accounts on other platforms, connected by OAuth 2.0 authorization code
+ PKCE, tokens Vault-encrypted at rest and bound to the row, refreshed before they expire.

Rules from what goes wrong in other tools: a refresh that answers without a refresh token keeps the one
we have (never overwritten with an empty one); only a recognised auth error (``invalid_grant``, a refused
token) marks an account "needs reconnect", never a 5xx or a timeout; reconnecting updates the same row, so
its jobs and ``history`` stay."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from hutong.distribute.adapters import AdapterError, Connection, Outcome, PlatformAdapter, Tokens
from hutong.errors import HutongError
from hutong.platform.vault import Vault
from hutong.store import Database, DistributionAccount, PublishJob, utcnow

REFRESH_MARGIN = timedelta(seconds=120)  # refresh this long before the access token expires


class AccountError(HutongError):
    """An account operation was refused; the message says why and what to do."""


class UnknownAccount(AccountError):
    """No such account, or not one of this creator's (the same answer either way)."""


def owner_of(platform_account_id: int) -> str:
    """The ``creator`` recorded for an account connected through the HTTP API by a signed-in user of this
    installation (``DistributionAccount.creator``): only that user sees and uses it. The CLI (the operator)
    records a creator handle of its choosing and sees every account."""
    return f"user:{platform_account_id}"


@dataclass(frozen=True)
class AccountView:
    id: int
    name: str
    creator: str
    adapter: str
    platform_url: str
    platform_name: str
    status: str
    status_reason: str
    scope: str
    expires_at: datetime | None
    history: list

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return d


def _view(r: DistributionAccount) -> AccountView:
    return AccountView(r.id, r.name, r.creator, r.adapter, r.platform_url, r.platform_name, r.status,
                       r.status_reason, r.scope, r.expires_at, list(r.history or []))  # fmt: skip


def unusable(name: str, status: str, reason: str) -> str:
    """Why an account that is not connected cannot publish, and what to do."""
    why = f" ({reason})" if reason else ""
    if status == "needs_reconnect":
        return f"account {name!r} needs reconnecting{why}: run `hutong accounts connect {name} …` again"
    if status == "pending":
        return f"account {name!r} is not connected yet: finish `hutong accounts connect {name}`"
    return f"account {name!r} was removed{why}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


class ConnectedAccounts:
    def __init__(self, db: Database, vault: Vault, adapters: dict[str, PlatformAdapter]) -> None:
        self.db, self.vault, self.adapters = db, vault, adapters
        self._locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def adapter(self, name: str) -> PlatformAdapter:
        try:
            return self.adapters[name]
        except KeyError:
            raise AccountError(
                f"no platform adapter {name!r} (known: {', '.join(sorted(self.adapters))})"
            ) from None

    # -- connecting --------------------------------------------------------------------------------

    def start(
        self,
        name: str,
        platform_url: str,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        adapter: str = "hutong",
        creator: str = "",
        scope: str | None = None,
        owner: str | None = None,
    ) -> dict:
        """Step one: the authorization URL to open. Connecting a name that exists reconnects it (same row).
        ``owner``: the creator acting (HTTP API); it becomes the account's creator, and another's name is refused."""
        creator = owner if owner is not None else creator
        name, platform_url = name.strip(), platform_url.strip().rstrip("/")
        if not name or len(name) > 100:
            raise AccountError("an account name (1–100 characters) is required: it is what --to names")
        if not client_id or not redirect_uri:
            raise AccountError("the app's client id and redirect URI on that platform are required")
        ad = self.adapter(adapter)
        try:
            platform_name = str(ad.discover(platform_url).get("name", ""))
        except AdapterError as exc:
            raise AccountError(f"{platform_url}: {exc}") from None
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        with self.db.session() as s:
            row = s.execute(
                select(DistributionAccount).where(DistributionAccount.name == name)
            ).scalar_one_or_none()
            if row is not None and owner is not None and row.creator != owner:
                raise AccountError(f"the account name {name!r} is taken: pick another")
            if row is not None and (row.platform_url != platform_url or row.adapter != adapter):
                raise AccountError(
                    f"account {name!r} is on {row.platform_url} ({row.adapter}); pick another name for {platform_url}"
                )
            if row is None:
                row = DistributionAccount(name=name, creator=creator, adapter=adapter, platform_url=platform_url,
                                          platform_name=platform_name, client_id=client_id, redirect_uri=redirect_uri,
                                          status="pending", history=[])  # fmt: skip
                s.add(row)
                s.flush()
            row.client_id, row.redirect_uri, row.platform_name = client_id, redirect_uri, platform_name
            row.creator = creator or row.creator
            row.client_secret_enc = self.vault.encrypt(client_secret, context=f"dist-account:{row.id}:client")
            row.pending_state = state
            row.pending_verifier_enc = self.vault.encrypt(verifier, context=f"dist-account:{row.id}:pkce")
            row.scope = scope or ad.scope
            row.updated_at = utcnow()
            conn = self._connection(row, with_token=False)
            scope_asked = row.scope
        url = ad.authorization_url(conn, state=state, code_challenge=challenge, scope=scope_asked)
        return {"account": name, "authorization_url": url, "state": state, "platform_name": platform_name}

    def reconnect(self, name: str, *, creator: str | None = None) -> dict:
        """:meth:`start` again for an account, with the platform and app it was connected with."""
        with self.db.session() as s:
            row = self._row(s, name, creator)
            if not row.client_secret_enc:
                raise AccountError(
                    f"account {name!r} was removed: connect it anew with the app's client secret"
                )
            conn = self._connection(row, with_token=False)
            url, adapter, creator, scope = row.platform_url, row.adapter, row.creator, row.scope
        return self.start(name, url, client_id=conn.client_id, client_secret=conn.client_secret,
                          redirect_uri=conn.redirect_uri, adapter=adapter, creator=creator, scope=scope)  # fmt: skip

    def finish(self, redirected: str, *, name: str | None = None, creator: str | None = None) -> AccountView:
        """Step two: the URL the platform redirected to (or just its ``code``, with ``name``)."""
        text = redirected.strip()
        if "?" in text or text.startswith(("http://", "https://")):
            q = {k: v[0] for k, v in parse_qs(urlsplit(text).query).items()}
            if "error" in q:
                raise AccountError(
                    f"the platform did not grant access: {q['error']} {q.get('error_description', '')}".strip()
                )
            code, state = q.get("code", ""), q.get("state", "")
        else:
            code, state = text, ""
        if not code:
            raise AccountError("no authorization code in what was given: paste the whole redirected URL")
        with self.db.session() as s:
            if state:
                row = s.execute(
                    select(DistributionAccount).where(DistributionAccount.pending_state == state)
                ).scalar_one_or_none()
                if row is None or (creator is not None and row.creator != creator):
                    raise AccountError(
                        "this redirect does not answer a pending connection (state differs): start again"
                    )
            else:
                if not name:
                    raise AccountError("a bare code needs the account name (--name)")
                row = s.execute(
                    select(DistributionAccount).where(DistributionAccount.name == name)
                ).scalar_one_or_none()
                if row is None or not row.pending_state or (creator is not None and row.creator != creator):
                    raise AccountError(f"no pending connection for {name!r}: start it first")
            verifier = self.vault.decrypt(row.pending_verifier_enc, context=f"dist-account:{row.id}:pkce")
            conn, ad, account_id = self._connection(row, with_token=False), self.adapter(row.adapter), row.id
        try:
            tokens = ad.exchange_code(conn, code, verifier)
        except AdapterError as exc:
            raise AccountError(f"connecting failed: {exc}") from None
        with self.db.session() as s:
            row = s.get(DistributionAccount, account_id)
            event = "reconnected" if row.status in ("connected", "needs_reconnect") else "connected"
            self._store(row, tokens)
            row.status, row.status_reason = "connected", ""
            row.pending_state, row.pending_verifier_enc = "", b""
            row.history = [*row.history, {"at": utcnow().isoformat(), "event": event}]
            return _view(row)

    # -- reading -------------------------------------------------------------------------------------

    def list(self, *, creator: str | None = None) -> list[AccountView]:
        """Accounts; ``creator`` keeps that creator's (None: every account)."""
        with self.db.session() as s:
            q = select(DistributionAccount).order_by(DistributionAccount.id)
            if creator is not None:
                q = q.where(DistributionAccount.creator == creator)
            return [_view(r) for r in s.execute(q).scalars()]

    def get(self, name: str, *, creator: str | None = None) -> AccountView:
        with self.db.session() as s:
            return _view(self._row(s, name, creator))

    @staticmethod
    def _row(s, name: str, creator: str | None = None) -> DistributionAccount:
        row = s.execute(
            select(DistributionAccount).where(DistributionAccount.name == name)
        ).scalar_one_or_none()
        if row is None or (creator is not None and row.creator != creator):
            raise UnknownAccount(f"no connected account {name!r} (see `hutong accounts list`)")
        return row

    def remove(self, name: str, *, creator: str | None = None) -> None:
        """Forget an account: its tokens go; an account with publishing jobs keeps its row (the jobs name it)."""
        with self.db.session() as s:
            row = self._row(s, name, creator)
            jobs = s.execute(select(func.count()).where(PublishJob.account_id == row.id)).scalar_one()
            if not jobs:
                s.delete(row)
                return
            row.status, row.status_reason = "removed", "removed by the creator"
            row.access_token_enc = row.refresh_token_enc = row.client_secret_enc = b""
            row.history = [*row.history, {"at": utcnow().isoformat(), "event": "removed"}]

    # -- tokens --------------------------------------------------------------------------------------

    def connection(self, account_id: int) -> Connection:
        """A connection with a usable access token: refreshed first when it expires soon."""
        with self._lock(account_id):
            with self.db.session() as s:
                row = s.get(DistributionAccount, account_id)
                if row is None:
                    raise AccountError(f"account {account_id} no longer exists")
                if row.status != "connected":
                    raise AdapterError(Outcome.AUTH, unusable(row.name, row.status, row.status_reason))
                due = row.expires_at is not None and row.expires_at - REFRESH_MARGIN <= utcnow()
                if not due:
                    return self._connection(row)
            return self._refresh(account_id)

    def refresh(self, account_id: int) -> Connection:
        with self._lock(account_id):
            return self._refresh(account_id)

    def _refresh(self, account_id: int) -> Connection:
        with self.db.session() as s:
            row = s.get(DistributionAccount, account_id)
            conn, ad = self._connection(row, with_token=False), self.adapter(row.adapter)
            refresh_token = (
                self.vault.decrypt(row.refresh_token_enc, context=f"dist-account:{row.id}:refresh")
                if row.refresh_token_enc
                else ""
            )
        if not refresh_token:
            self.needs_reconnect(
                account_id, "the access token expired and the platform gave no refresh token"
            )
            raise AdapterError(
                Outcome.AUTH, "the access token expired and there is no refresh token: reconnect"
            )
        try:
            tokens = ad.refresh(conn, refresh_token)
        except AdapterError as exc:
            if exc.outcome is Outcome.AUTH:
                self.needs_reconnect(account_id, str(exc))
            raise  # a 5xx or a timeout leaves the account as it is
        with self.db.session() as s:
            row = s.get(DistributionAccount, account_id)
            self._store(row, tokens)
            row.history = [*row.history, {"at": utcnow().isoformat(), "event": "refreshed"}]
            return self._connection(row)

    def needs_reconnect(self, account_id: int, reason: str) -> None:
        with self.db.session() as s:
            row = s.get(DistributionAccount, account_id)
            if row is not None and row.status == "connected":
                row.status, row.status_reason, row.updated_at = "needs_reconnect", reason[:2000], utcnow()
                row.history = [
                    *row.history,
                    {"at": utcnow().isoformat(), "event": "needs_reconnect", "reason": reason[:500]},
                ]

    def _store(self, row: DistributionAccount, tokens: Tokens) -> None:
        row.access_token_enc = self.vault.encrypt(
            tokens.access_token, context=f"dist-account:{row.id}:access"
        )
        if tokens.refresh_token:  # never overwrite a refresh token with an empty one
            row.refresh_token_enc = self.vault.encrypt(
                tokens.refresh_token, context=f"dist-account:{row.id}:refresh"
            )
        row.expires_at = utcnow() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
        row.scope = tokens.scope or row.scope
        row.updated_at = utcnow()

    def _connection(self, row: DistributionAccount, *, with_token: bool = True) -> Connection:
        secret = (
            self.vault.decrypt(row.client_secret_enc, context=f"dist-account:{row.id}:client")
            if row.client_secret_enc
            else ""
        )
        token = (
            self.vault.decrypt(row.access_token_enc, context=f"dist-account:{row.id}:access")
            if with_token and row.access_token_enc
            else ""
        )
        return Connection(row.platform_url, row.client_id, secret, row.redirect_uri, token)

    def _lock(self, account_id: int) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(account_id, threading.Lock())
