"""The open platform: accounts, developer onboarding under a published policy, apps, OAuth 2.0 / OIDC."""

from __future__ import annotations

from dataclasses import dataclass

from hutong.config import Settings
from hutong.platform.accounts import Accounts
from hutong.platform.apps import Apps
from hutong.platform.bank import FakeBank
from hutong.platform.developers import Developers
from hutong.platform.oauth import OAuthServer
from hutong.platform.policy import ReviewPolicy
from hutong.platform.vault import Vault
from hutong.store import Database
from hutong.store.keys import KeyRing


@dataclass
class Platform:
    policy: ReviewPolicy
    policy_text: str
    vault: Vault
    accounts: Accounts
    developers: Developers
    apps: Apps
    oauth: OAuthServer

    @classmethod
    def create(cls, settings: Settings, db: Database) -> Platform:
        policy, text = ReviewPolicy.load(settings.review_policy)
        vault = Vault(settings.keys_dir / "data")
        bank = FakeBank(settings.home / "fake-bank")
        id_keys = KeyRing(settings.keys_dir / "oidc", alg="RS256")
        return cls(
            policy, text, vault, Accounts(db), Developers(db, policy, vault, bank, settings.home),
            Apps(db, policy), OAuthServer(db, policy, id_keys, settings.issuer),
        )  # fmt: skip


__all__ = ["Platform"]
