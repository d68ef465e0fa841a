"""Developer onboarding under the policy: every route, every refusal, the data protection promises."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from hutong.errors import PlatformError
from hutong.store import Developer, ReviewDecision
from tests.platform.conftest import attestation, resident_id, uscc

REP = resident_id(7, "19750612")


def enterprise(p, account_id, n=1, **kw):
    args = dict(display_name="Studio", company_name="某某传媒有限公司", uscc=uscc(n), route="resident_id",
                legal_rep_name="张三", legal_rep_id=REP)  # fmt: skip
    return p.developers.register_enterprise(account_id, **{**args, **kw})


def test_individual_and_enterprise_by_resident_id(platform_factory, account):
    p = platform_factory()
    ind = p.developers.register_individual(account(p), "Alice")
    assert ind["status"] == "verified" and ind["legal_representative"] is None
    acc = account(p)
    dev = enterprise(p, acc)
    assert dev["status"] == "verified"
    assert dev["legal_representative"] == {
        "name": "张*",
        "id_number": REP[:4] + "*" * 10 + REP[-4:],
        "deleted": True,
    }
    with p.developers.db.session() as s:
        row = s.get(Developer, dev["id"])
        # deleted right after verification by the shipped policy; the keyed HMAC stays for duplicates
        assert row.legal_rep_id_enc is None and row.legal_rep_id_hmac and REP not in row.legal_rep_id_hmac
    [decision] = p.developers.decisions(acc)
    assert (decision.outcome, decision.rule, decision.policy_version) == (
        "approved",
        "verified",
        p.policy.version,
    )
    with pytest.raises(PlatformError, match="already registered"):
        p.developers.register_individual(acc, "again")


def test_legal_rep_data_is_encrypted_and_rotates(platform_factory, account, tmp_path):
    p = platform_factory(delete_legal_rep_data_after_days=30)
    acc = account(p)
    dev = enterprise(p, acc)
    raw = (tmp_path / "home" / "hutong.db").read_bytes()
    assert REP.encode() not in raw and "张三".encode() not in raw  # never in the database file in clear
    assert p.developers.legal_rep_for_review(dev["id"]) == ("张三", REP)
    old = p.vault.active
    p.vault.rotate()
    assert p.developers.reencrypt() == 1
    with p.developers.db.session() as s:
        assert s.get(Developer, dev["id"]).legal_rep_key_id == p.vault.active != old
    assert p.developers.legal_rep_for_review(dev["id"]) == ("张三", REP)
    # a ciphertext moved to another record does not decrypt there (bound to its record)
    with p.developers.db.session() as s:
        blob = s.get(Developer, dev["id"]).legal_rep_id_enc
    with pytest.raises(Exception, match="does not decrypt"):
        p.vault.decrypt(blob, context="developer:999:id")
    assert p.developers.purge_due() == 0  # not due for 30 days
    p.developers.erase_legal_rep(acc)
    with pytest.raises(PlatformError, match="no legal-representative data"):
        p.developers.legal_rep_for_review(dev["id"])


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"uscc": "91110000100000000A"}, "uscc: the check character"),
        ({"uscc": "123"}, "uscc: a unified social credit code has 18"),
        ({"legal_rep_id": "110105197506120000"}, "legal_rep_id: the check digit"),
        ({"legal_rep_id": "110105750612123"}, "15-digit"),
        ({"legal_rep_name": " "}, "legal_rep_name"),
        ({"company_name": ""}, "company_name"),
        ({"route": "fax"}, "route"),
        ({"route": "attestation"}, "attestation: the signed attestation"),
        ({"route": "micro_deposit", "bank_account": "12"}, "bank_account"),
    ],
)
def test_malformed_enterprise_data_is_refused_and_nothing_stored(platform_factory, account, kw, needle):
    p = platform_factory()
    acc = account(p)
    with pytest.raises(PlatformError, match=needle) as err:
        enterprise(p, acc, **kw)
    assert err.value.status == 422 and REP not in str(err.value)
    with p.developers.db.session() as s:
        assert s.execute(select(Developer)).first() is None


def test_duplicates_and_the_legal_rep_limit(platform_factory, account):
    p = platform_factory(max_enterprises_per_legal_rep=2)
    enterprise(p, account(p), 1)
    taken = enterprise(p, account(p), 1)  # same enterprise from another account
    assert taken["status"] == "rejected"
    enterprise(p, account(p), 2)
    third = account(p)
    pending = enterprise(p, third, 3)  # this person already backs two verified enterprises
    assert pending["status"] == "pending"
    [d] = p.developers.decisions(third)
    assert (d.outcome, d.rule) == ("pending", "legal-rep-limit")
    done = p.developers.decide_pending(
        pending["id"], approve=True, note="family business group, documents seen", staff="li"
    )
    assert done["status"] == "verified"


def test_appeal_and_resolution(platform_factory, account):
    p = platform_factory()
    enterprise(p, account(p), 5)
    acc = account(p)
    enterprise(p, acc, 5)
    [d] = p.developers.decisions(acc)
    assert d.rule == "uscc-unique" and d.outcome == "rejected" and "appeal" in d.reason
    with pytest.raises(PlatformError, match="10-5000"):
        p.developers.appeal(acc, d.id, "short")
    appealed = p.developers.appeal(acc, d.id, "We lost access to the old account when our admin left.")
    assert appealed.appeal_status == "open" and len(p.developers.open_appeals()) == 1
    with pytest.raises(PlatformError, match="already appealed"):
        p.developers.appeal(acc, d.id, "Trying again with more words.")
    with pytest.raises(PlatformError, match="say why"):
        p.developers.resolve_appeal(d.id, overturn=True, note=" ", staff="li")
    resolved = p.developers.resolve_appeal(d.id, overturn=True, note="business licence checked", staff="li")
    assert resolved.appeal_status == "overturned" and p.developers.mine(acc)["status"] == "verified"
    with pytest.raises(PlatformError, match="approval cannot be appealed"):
        p.developers.appeal(acc, p.developers.decisions(acc)[-1].id, "I would like to appeal my approval.")


def test_attestation_route_needs_no_id_number(platform_factory, account, attester_key):
    p = platform_factory()
    acc = account(p)
    dev = enterprise(
        p,
        acc,
        9,
        route="attestation",
        legal_rep_name="",
        legal_rep_id="",
        attestation=attestation(attester_key, uscc(9)),
    )
    assert dev["status"] == "verified" and dev["legal_representative"] is None
    with p.developers.db.session() as s:
        row = s.get(Developer, dev["id"])
        assert row.legal_rep_id_enc is None and row.evidence["attester"].startswith("https://kyc")
    from joserfc.jwk import OKPKey

    forged = OKPKey.generate_key("Ed25519", parameters={"kid": "kyc-1"})
    cases = [
        (attestation(attester_key, uscc(10)), 11, "about"),
        (attestation(forged, uscc(11)), 11, "not signed by a trusted attester"),
        (attestation(attester_key, uscc(12), issuer="https://other.example"), 12, "not signed by a trusted"),
        (
            attestation(attester_key, uscc(13), verified_on=date.today() - timedelta(days=400)),
            13,
            "older than",
        ),
        (attestation(attester_key, uscc(14), ok=False), 14, "does not state"),
        ("not.a.jws", 15, "not signed"),
    ]
    for token, n, needle in cases:
        a = account(p)
        out = enterprise(p, a, n, route="attestation", legal_rep_name="", legal_rep_id="", attestation=token)
        assert out["status"] == "rejected"
        assert needle in p.developers.decisions(a)[0].reason


def test_route_not_accepted_by_policy(platform_factory, account):
    p = platform_factory(accepted_routes=["attestation"])
    acc = account(p)
    assert enterprise(p, acc, 20)["status"] == "rejected"
    assert p.developers.decisions(acc)[0].rule == "route-accepted"


def test_micro_deposit(platform_factory, account, tmp_path):
    from hutong.platform.bank import FakeBank

    p = platform_factory(micro_deposit_attempts=2)
    bank = FakeBank(tmp_path / "home" / "fake-bank")
    acc = account(p)
    dev = enterprise(
        p,
        acc,
        30,
        route="micro_deposit",
        legal_rep_name="",
        legal_rep_id="",
        bank_account="6222 0200 1234 5678",
    )
    assert dev["status"] == "pending"
    with p.developers.db.session() as s:
        ref = s.get(Developer, dev["id"]).evidence["reference"]
    amount = bank.last_deposit(ref)
    assert 1 <= amount <= 99
    with pytest.raises(PlatformError, match="1 attempt"):
        p.developers.confirm_deposit(acc, amount % 99 + 1)
    assert p.developers.confirm_deposit(acc, amount)["status"] == "verified"
    with pytest.raises(PlatformError, match="no deposit waiting"):
        p.developers.confirm_deposit(acc, amount)
    other = account(p)
    d2 = enterprise(
        p,
        other,
        31,
        route="micro_deposit",
        legal_rep_name="",
        legal_rep_id="",
        bank_account="62220200123456789",
    )
    with p.developers.db.session() as s:
        ref2 = s.get(Developer, d2["id"]).evidence["reference"]
    wrong = bank.last_deposit(ref2) % 99 + 1
    with pytest.raises(PlatformError):
        p.developers.confirm_deposit(other, wrong)
    assert p.developers.confirm_deposit(other, wrong)["status"] == "rejected"
    with p.developers.db.session() as s:
        rules = [
            d.rule
            for d in s.execute(
                select(ReviewDecision).where(ReviewDecision.developer_id == d2["id"])
            ).scalars()
        ]
    assert rules == ["micro-deposit-confirmed", "micro-deposit-confirmed"]
