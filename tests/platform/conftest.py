"""A platform over a real SQLite database, with the shipped policy adjusted per test where needed."""

import json
import re
from datetime import date
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.platform import Platform
from hutong.platform.ids import id_check_char, uscc_check_char
from hutong.platform.policy import DEFAULT_POLICY

ATTESTER = "https://kyc.example.test"


def uscc(n: int, first: str = "9") -> str:
    body = f"{first}1110000{n:09d}"[:17]
    return body + uscc_check_char(body)


def resident_id(serial: int, born: str = "19800101") -> str:
    body = f"110105{born}{serial:03d}"
    return body + id_check_char(body)


def make_policy(tmp_path: Path, **developer_overrides) -> Path:
    text = DEFAULT_POLICY.read_text()
    for key, value in developer_overrides.items():
        text = re.sub(rf"^{key} = .*$", f"{key} = {json.dumps(value)}", text, flags=re.M)
    text += f'\n[[trusted_attesters]]\nissuer = "{ATTESTER}"\njwks = "attesters/kyc.jwks.json"\n'
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


@pytest.fixture
def attester_key(tmp_path: Path) -> OKPKey:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "kyc-1"})
    folder = tmp_path / "home" / "attesters"
    folder.mkdir(parents=True)
    (folder / "kyc.jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return key


def attestation(
    key: OKPKey, subject: str, *, issuer: str = ATTESTER, verified_on: date | None = None, ok: bool = True
) -> str:
    claims = {"iss": issuer, "sub": subject, "legal_representative_verified": ok,
              "verified_on": (verified_on or date.today()).isoformat()}  # fmt: skip
    return jwt.encode({"alg": "Ed25519", "kid": key.kid}, claims, key, algorithms=["Ed25519"])


@pytest.fixture
def platform_factory(tmp_path: Path, attester_key):
    made = []

    def make(**developer_overrides) -> Platform:
        home = tmp_path / "home"
        h = Hutong.create(get_settings(home=home, review_policy=make_policy(tmp_path, **developer_overrides)))
        made.append(h)
        return h.platform

    yield make
    for h in made:
        h.close()


@pytest.fixture
def account(platform_factory):
    counter = iter(range(1, 1000))

    def make(p: Platform) -> int:
        return p.accounts.register(f"user{next(counter)}", "a long enough password").id

    return make
