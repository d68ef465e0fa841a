"""The open platform: accounts, developer onboarding under a published policy, apps, OAuth 2.0 / OIDC, and
what platforms open to each other: certificate-checked ingest, share intents, link cards, webhooks."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from hutong.config import Settings
from hutong.keys import KeyRing
from hutong.platform.accounts import Accounts
from hutong.platform.apps import Apps
from hutong.platform.bank import FakeBank
from hutong.platform.developers import Developers
from hutong.platform.federation import Federation
from hutong.platform.ingest import Ingest
from hutong.platform.interconnect import Directory
from hutong.platform.links import Links
from hutong.platform.oauth import OAuthServer
from hutong.platform.outbound import Outbound
from hutong.platform.policy import ReviewPolicy
from hutong.platform.ports import CertificateAuthority, Recogniser
from hutong.platform.roles import Roles
from hutong.platform.shares import Shares
from hutong.platform.vault import Vault
from hutong.platform.webhooks import Webhooks
from hutong.store import Database


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
    federation: Federation
    roles: Roles

    @classmethod
    def create(
        cls,
        settings: Settings,
        db: Database,
        *,
        certificates: CertificateAuthority,
        recogniser: Recogniser,
        http: httpx.Client,
    ) -> Platform:
        """Every collaborator is explicit: ``certificates`` is this installation's certificate issuer (its
        keys and the status of its own certificates), ``recogniser`` finds registered works in posts that
        come without a certificate, ``http`` carries every outbound request to other platforms."""
        policy, text = ReviewPolicy.load(settings.review_policy)
        vault = Vault(settings.keys_dir / "data")
        bank = FakeBank(settings.home / "fake-bank")
        id_keys = KeyRing(settings.keys_dir / "oidc", alg="RS256")
        outbound = Outbound.from_settings(settings)  # link cards and webhooks reach public addresses only
        directory = Directory(db, vault, settings, certificates.jwks, http, outbound)
        webhooks = Webhooks(db, vault, attempts=settings.webhook_attempts, backoff=settings.webhook_backoff,
                            timeout=settings.webhook_timeout, outbound=outbound)  # fmt: skip
        ingest = Ingest(settings, db, directory, webhooks, recogniser.works_in, certificates.status_of,
                        recogniser.held)  # fmt: skip
        accounts = Accounts(db)
        return cls(
            settings, policy, text, vault, accounts, Developers(db, policy, vault, bank, settings.home),
            Apps(db, policy, vault, outbound=outbound), OAuthServer(db, policy, id_keys, settings.issuer), directory, webhooks, ingest,
            Shares(db, ingest, webhooks, settings.issuer), Links(settings, db, outbound),
            Federation(directory, accounts, http, settings.issuer), Roles(db),
        )  # fmt: skip


__all__ = ["CertificateAuthority", "Platform", "Recogniser"]
