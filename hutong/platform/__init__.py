"""The open platform: accounts, developer onboarding under a published policy, apps, OAuth 2.0 / OIDC, and
what platforms open to each other: certificate-checked ingest, share intents, link cards, webhooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hutong.config import Settings
from hutong.platform.accounts import Accounts
from hutong.platform.apps import Apps
from hutong.platform.bank import FakeBank
from hutong.platform.developers import Developers
from hutong.platform.ingest import Ingest
from hutong.platform.interconnect import Directory
from hutong.platform.links import Links
from hutong.platform.oauth import OAuthServer
from hutong.platform.policy import ReviewPolicy
from hutong.platform.shares import Shares
from hutong.platform.vault import Vault
from hutong.platform.webhooks import Webhooks
from hutong.store import Database
from hutong.store.keys import KeyRing


@dataclass
class Platform:
    settings: Settings
    policy: ReviewPolicy
    policy_text: str
    vault: Vault
    accounts: Accounts
    developers: Developers
    apps: Apps
    oauth: OAuthServer
    directory: Directory
    webhooks: Webhooks
    ingest: Ingest
    shares: Shares
    links: Links

    @classmethod
    def create(
        cls,
        settings: Settings,
        db: Database,
        *,
        own_jwks: Callable[[], dict] | None = None,
        own_status: Callable[[str], dict | None] | None = None,
        recognise: Callable[[Path], list[str]] | None = None,
    ) -> Platform:
        """``own_jwks`` / ``own_status``: this instance's certificate keys and status (from compliance);
        ``recognise``: titles of registered works in a video (for posts without a certificate)."""
        policy, text = ReviewPolicy.load(settings.review_policy)
        vault = Vault(settings.keys_dir / "data")
        bank = FakeBank(settings.home / "fake-bank")
        id_keys = KeyRing(settings.keys_dir / "oidc", alg="RS256")
        directory = Directory(db, vault, settings, own_jwks or (lambda: {"keys": []}))
        webhooks = Webhooks(db, vault, attempts=settings.webhook_attempts, backoff=settings.webhook_backoff)
        ingest = Ingest(
            settings, db, directory, webhooks, recognise or (lambda _p: []), own_status or (lambda _j: None)
        )
        return cls(
            settings, policy, text, vault, Accounts(db), Developers(db, policy, vault, bank, settings.home),
            Apps(db, policy, vault), OAuthServer(db, policy, id_keys, settings.issuer), directory, webhooks, ingest,
            Shares(db, ingest, webhooks, settings.issuer), Links(settings, db),
        )  # fmt: skip


__all__ = ["Platform"]
