"""Apps (OAuth clients) of verified developers; each requested scope reviewed under the policy."""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from sqlalchemy import func, select

from hutong.errors import PlatformError
from hutong.platform.accounts import token_hash
from hutong.platform.oauth import URI_CHARS
from hutong.platform.outbound import Outbound
from hutong.platform.policy import ReviewPolicy
from hutong.platform.vault import Vault
from hutong.platform.webhooks import new_secret
from hutong.store import App, Database, Developer, ReviewDecision
from hutong.store.paging import ListQuery, Page, contains, page_of

MAX_REDIRECTS = 10


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str) -> str:
    """Absolute, exact, no fragment, no wildcard; https, or http only on loopback (RFC 8252 §7.3)."""
    if len(uri) > 2000 or any(c.isspace() for c in uri):
        raise PlatformError(f"redirect URI {uri[:80]!r}: at most 2000 characters, no spaces", 422)
    if not URI_CHARS.fullmatch(
        uri
    ):  # '"', '\\', '<', non-ASCII...: not a URI, and unusable at /oauth/authorize
        raise PlatformError(
            f"redirect URI {uri[:80]!r}: characters a URI may not contain (RFC 3986; write an international"
            " domain name in its xn-- form)",
            422,
        )
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise PlatformError(f"redirect URI {uri!r} is not a URL", 422) from None
    if parts.fragment or "#" in uri:
        raise PlatformError(f"redirect URI {uri!r}: fragments are not allowed", 422)
    if "*" in uri:
        raise PlatformError(
            f"redirect URI {uri!r}: wildcards are not allowed; register each URI exactly", 422
        )
    if parts.scheme == "https" and host:
        return uri
    if parts.scheme == "http" and _loopback(host):
        return uri
    raise PlatformError(f"redirect URI {uri!r}: must be https, or http on a loopback address", 422)


def _redirect_uris(redirect_uris: list[str]) -> list[str]:
    uris = [check_redirect_uri(u) for u in redirect_uris]
    if len(set(uris)) != len(uris) or len(uris) > MAX_REDIRECTS:
        raise PlatformError(f"redirect_uris: up to {MAX_REDIRECTS}, each once", 422)
    return uris


class Apps:
    def __init__(
        self,
        db: Database,
        policy: ReviewPolicy,
        vault: Vault,
        *,
        outbound: Outbound,
    ) -> None:
        """``outbound``: the address policy webhook URLs must pass."""
        self.db, self.policy, self.vault, self.outbound = db, policy, vault, outbound

    def register(
        self,
        developer_id: int,
        *,
        name: str,
        client_type: str,
        redirect_uris: list[str],
        scopes: list[str],
        privacy_policy_url: str = "",
        webhook_url: str = "",
    ) -> tuple[dict, str | None]:
        """(the app, its client secret — shown once — or None for a public client). With a webhook URL the
        view also carries ``webhook_secret``, shown once too."""
        if not name.strip() or len(name) > 200:
            raise PlatformError("name: 1-200 characters", 422)
        if client_type not in ("confidential", "public"):
            raise PlatformError("client_type: confidential or public", 422)
        uris = _redirect_uris(redirect_uris)
        unknown = sorted(set(scopes) - set(self.policy.scopes))
        if unknown:
            raise PlatformError(
                f"unknown scope(s) {', '.join(unknown)}; see /policy/review for the list", 422
            )
        if not scopes:
            raise PlatformError("scopes: ask for at least one", 422)
        if privacy_policy_url and not urlsplit(privacy_policy_url).scheme.startswith("http"):
            raise PlatformError("privacy_policy_url: an http(s) URL", 422)
        if webhook_url:
            # the platform will POST there: only public addresses (checked now, and again at every delivery)
            webhook_url = webhook_url.strip()
            self.outbound.check(webhook_url, "webhook_url")
        with self.db.session() as s:
            dev = s.get(Developer, developer_id)
            assert dev is not None
            secret = secrets.token_urlsafe(32) if client_type == "confidential" else None
            app = App(
                client_id="app_" + secrets.token_urlsafe(12), client_secret_hash=token_hash(secret) if secret else "",
                developer_id=dev.id, name=name.strip(), client_type=client_type, redirect_uris=uris,
                scopes_requested=sorted(set(scopes)), scopes_granted=[], privacy_policy_url=privacy_policy_url,
                webhook_url=webhook_url,
            )  # fmt: skip
            s.add(app)
            s.flush()
            webhook_secret = None
            if webhook_url and self.vault is not None:
                webhook_secret = new_secret()
                app.webhook_secret_enc = self.vault.encrypt(
                    webhook_secret, context=f"app:{app.client_id}:webhook"
                )
            granted = []
            for scope in sorted(set(scopes)):
                missing = self._unmet(scope, dev, app)
                outcome = "rejected" if missing else "approved"
                reason = (
                    f"{scope}: requires {', '.join(missing)}" if missing else f"{scope}: requirements met"
                )
                s.add(ReviewDecision(
                    developer_id=dev.id, subject=f"app:{app.client_id}:{scope}", outcome=outcome,
                    rule="scope-requirements", reason=reason, policy_version=self.policy.version,
                ))  # fmt: skip
                if not missing:
                    granted.append(scope)
            app.scopes_granted = granted
            view = self.view(app)
            if webhook_secret:
                view["webhook_secret"] = webhook_secret
            return view, secret

    def _unmet(self, scope: str, dev: Developer, app: App) -> list[str]:
        checks = {
            "verified": dev.status == "verified",
            "enterprise": dev.kind == "enterprise",
            "privacy_policy": bool(app.privacy_policy_url),
            "confidential": app.client_type == "confidential",
        }
        words = {
            "verified": "a verified developer",
            "enterprise": "an enterprise developer",
            "privacy_policy": "a privacy policy URL",
            "confidential": "a confidential client",
        }
        return [words[r] for r in self.policy.scopes[scope].requires if not checks[r]]

    @staticmethod
    def view(app: App) -> dict:
        return {
            "client_id": app.client_id,
            "name": app.name,
            "client_type": app.client_type,
            "redirect_uris": app.redirect_uris,
            "scopes_requested": app.scopes_requested,
            "scopes_granted": app.scopes_granted,
            "privacy_policy_url": app.privacy_policy_url,
            "webhook_url": app.webhook_url,
            "status": app.status,
            "created_at": app.created_at.isoformat(),
        }

    def of_developer(self, developer_id: int) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(select(App).where(App.developer_id == developer_id).order_by(App.id)).scalars()
            return [self.view(a) for a in rows]

    # -- suspension by the platform's staff: the app's tokens, codes and grants stop working until reinstated

    def suspend(self, client_id: str, *, reason: str, staff: str = "staff") -> dict:
        return self._set_status(client_id, "suspended", reason=reason, staff=staff)

    def unsuspend(self, client_id: str, *, reason: str, staff: str = "staff") -> dict:
        return self._set_status(client_id, "active", reason=reason, staff=staff)

    def _set_status(self, client_id: str, status: str, *, reason: str, staff: str) -> dict:
        reason = reason.strip()
        if not 3 <= len(reason) <= 2000:
            raise PlatformError("reason: say why in 3-2000 characters (the developer sees it)", 422)
        with self.db.session() as s:
            app = s.execute(select(App).where(App.client_id == client_id)).scalar_one_or_none()
            if app is None:
                raise PlatformError(f"no app {client_id}", 404)
            if app.status == status:
                raise PlatformError(f"app {client_id} is already {status}", 409)
            app.status = status
            # the developer sees it among their review decisions; a suspension can be appealed
            s.add(ReviewDecision(
                developer_id=app.developer_id, subject=f"app:{client_id}", rule="app-suspension",
                outcome="suspended" if status == "suspended" else "approved", decided_by=staff[:64],
                reason=f"{'suspended' if status == 'suspended' else 'reinstated'} by {staff}: {reason}",
                policy_version=self.policy.version,
            ))  # fmt: skip
            return self.view(app)

    def get(self, client_id: str) -> App | None:
        with self.db.session() as s:
            return s.execute(select(App).where(App.client_id == client_id)).scalar_one_or_none()

    # -- lookups for the HTTP layer: the service owns the queries and the ownership checks ----------

    def name_of(self, client_id: str) -> str:
        app = self.get(client_id)
        return app.name if app else client_id

    def publisher(self, client_id: str) -> dict:
        """Who stands behind an app, as the consent page shows it."""
        with self.db.session() as s:
            row = s.execute(
                select(App, Developer)
                .join(Developer, Developer.id == App.developer_id)
                .where(App.client_id == client_id)
            ).one_or_none()
            if row is None:
                raise PlatformError(f"no app {client_id}", 404)
            app, dev = row
            return {
                "app_name": app.name,
                "developer": dev.display_name,
                "developer_kind": dev.kind,
                "uscc": dev.uscc,
            }

    def of_account(self, account_id: int) -> list[dict]:
        with self.db.session() as s:
            dev_id = s.execute(
                select(Developer.id).where(Developer.account_id == account_id)
            ).scalar_one_or_none()
        if dev_id is None:
            raise PlatformError("this account is not registered as a developer", 404)
        return self.of_developer(dev_id)

    def require_owned(self, account_id: int, client_id: str) -> None:
        """PlatformError 404 unless the app belongs to this account's developer (no hint either way)."""
        with self.db.session() as s:
            owned = s.execute(
                select(App.id).join(Developer, Developer.id == App.developer_id)
                .where(App.client_id == client_id, Developer.account_id == account_id)
            ).first()  # fmt: skip
        if owned is None:
            raise PlatformError(f"no app {client_id} of yours", 404)

    # -- the developer portal: a developer's own apps, always looked up through the owner ---------------

    def _owned(self, s, account_id: int, client_id: str) -> App:
        app = s.execute(
            select(App).join(Developer, Developer.id == App.developer_id)
            .where(App.client_id == client_id, Developer.account_id == account_id)
        ).scalar_one_or_none()  # fmt: skip
        if app is None:
            raise PlatformError(f"no app {client_id[:80]} of yours", 404)
        return app

    def page_of_account(self, account_id: int, query: ListQuery) -> Page[dict]:
        """One page of this account's developer's apps; text filter on the name or client id."""
        stmt = (
            select(App)
            .join(Developer, Developer.id == App.developer_id)
            .where(Developer.account_id == account_id)
        )
        if query.text:
            stmt = stmt.where(contains(App.name, query.text) | contains(App.client_id, query.text))
        if status := query.filters.get("status"):
            stmt = stmt.where(App.status == status)
        columns = {"name": App.name, "created": App.created_at, "status": App.status}
        with self.db.session() as s:
            return page_of(s, stmt, query, columns=columns, default="created", row=self.view, tiebreak=App.id)

    def owned(self, account_id: int, client_id: str) -> dict:
        """The app with the review of each scope it asked for (the latest decision on each) and the
        decisions on the app itself (suspensions); 404 unless it is this account's."""
        with self.db.session() as s:
            app = self._owned(s, account_id, client_id)
            prefix = f"app:{app.client_id}"
            latest = (
                select(func.max(ReviewDecision.id))
                .where(
                    ReviewDecision.developer_id == app.developer_id, ReviewDecision.subject.startswith(prefix)
                )
                .group_by(ReviewDecision.subject)
            )
            rows = s.execute(
                select(ReviewDecision).where(ReviewDecision.id.in_(latest)).order_by(ReviewDecision.subject)
            ).scalars()
            scopes, standing = [], []
            for d in rows:
                entry = {"outcome": d.outcome, "rule": d.rule, "rule_text": self.policy.rule(d.rule),
                         "reason": d.reason, "at": d.at, "decision_id": d.id, "appeal_status": d.appeal_status}  # fmt: skip
                if d.subject == prefix:
                    standing.append(entry)
                else:
                    scopes.append({"scope": d.subject[len(prefix) + 1 :], **entry})
            view = self.view(app)
            view["has_webhook_secret"] = app.webhook_secret_enc is not None
            return {**view, "scope_reviews": scopes, "standing": standing}

    def set_redirect_uris(self, account_id: int, client_id: str, redirect_uris: list[str]) -> dict:
        """Replace the app's redirect URIs (checked as at registration; at least one)."""
        uris = _redirect_uris([u for u in (x.strip() for x in redirect_uris) if u])
        if not uris:
            raise PlatformError(
                "redirect_uris: at least one (an app with none could not sign anyone in)", 422
            )
        with self.db.session() as s:
            app = self._owned(s, account_id, client_id)
            app.redirect_uris = uris
            return self.view(app)

    def rotate_secret(self, account_id: int, client_id: str) -> str:
        """A new client secret for a confidential app, returned once; the old one stops working at once."""
        with self.db.session() as s:
            app = self._owned(s, account_id, client_id)
            if app.client_type != "confidential":
                raise PlatformError("a public client has no client secret to rotate", 409)
            secret = secrets.token_urlsafe(32)
            app.client_secret_hash = token_hash(secret)
            return secret
