"""Developer onboarding under the policy: every route, every refusal, the data protection promises."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

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
    assert dev["legal_representative"] == {"name": "张*", "id_number": "*" * 16 + REP[-2:], "deleted": True}
    with p.developers.db.session() as s:
        row = s.get(Developer, dev["id"])
        # deleted right after verification by the shipped policy; a memory-hard tag stays for duplicates
        assert row.legal_rep_id_enc is None and row.legal_rep_tag and REP not in row.legal_rep_tag
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


# -- issue 9: look-alike digits, masks, what a deleted record keeps, concurrent guesses, attestation times --

FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def test_fullwidth_digits_are_the_same_legal_representative(platform_factory, account):
    """Finding 5: fullwidth digits passed validation and hashed to another tag, bypassing the limit."""
    p = platform_factory(max_enterprises_per_legal_rep=1)
    assert enterprise(p, account(p), 40)["status"] == "verified"
    again = account(p)
    assert enterprise(p, again, 41, legal_rep_id=REP.translate(FULLWIDTH))["status"] == "pending"
    assert p.developers.decisions(again)[0].rule == "legal-rep-limit"


@pytest.mark.parametrize(
    "lookalike",
    [
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),  # Arabic-Indic
        str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"),  # superscripts: was a 500 (int("²"))
    ],
)
def test_other_digits_in_an_id_are_refused_not_a_500(platform_factory, account, lookalike):
    p = platform_factory()
    acc = account(p)
    for bad in (REP[:5] + REP[5].translate(lookalike) + REP[6:], REP[:17].translate(lookalike) + REP[17]):
        with pytest.raises(PlatformError, match="legal_rep_id: .*0-9") as err:
            enterprise(p, acc, 42, legal_rep_id=bad)
        assert err.value.status == 422
    with pytest.raises(PlatformError, match="bank_account: .*0-9") as err:
        enterprise(p, acc, 42, route="micro_deposit", bank_account="6222020012345678".translate(lookalike))
    assert err.value.status == 422
    with p.developers.db.session() as s:
        assert s.execute(select(Developer)).first() is None


@pytest.mark.parametrize(("name", "masked"), [("张 三", "张*"), ("王\u3000五", "王*"), ("A B C", "A**")])
def test_names_with_spaces_are_masked(platform_factory, account, name, masked):
    """Finding 6: a name with whitespace came back unmasked."""
    p = platform_factory()
    dev = enterprise(p, account(p), 43, legal_rep_name=name)
    assert dev["legal_representative"]["name"] == masked


def _plain_tags(p, rep: str) -> set[str]:
    """What an attacker with the data folder computes per guess in microseconds: the keyed HMAC of the
    earlier design, and plain hashes."""
    import base64
    import hashlib
    import hmac
    import json

    key = base64.b64decode(json.loads((p.vault.folder / "data-keys.json").read_text())["hmac"])
    return {
        hmac.new(key, f"resident-id\x00{rep}".encode(), hashlib.sha256).hexdigest(),
        hashlib.sha256(rep.encode()).hexdigest(),
    }


def test_a_deleted_record_cannot_be_matched_to_the_id_cheaply(platform_factory, account, tmp_path):
    """Finding 7: after deletion the mask showed 8 of 18 characters and the keyed HMAC stayed, so a few
    seconds of brute force (the key is in the same data folder) recovered the ID."""
    from hutong.platform.vault import TAG_COST

    p = platform_factory(max_enterprises_per_legal_rep=1)
    acc = account(p)
    dev = enterprise(p, acc, 44)
    assert dev["legal_representative"]["deleted"] and dev["status"] == "verified"
    with p.developers.db.session() as s:
        row = s.get(Developer, dev["id"])
        assert row.legal_rep_id_enc is None and row.legal_rep_name_enc is None
        assert (
            sum(c != "*" for c in row.legal_rep_id_masked)
            <= 2
            == len(REP) - row.legal_rep_id_masked.count("*")
        )
        tag = row.legal_rep_tag
    # the tag that the duplicate rule still needs is memory-hard: each guess costs Argon2id with 64 MiB
    assert tag and TAG_COST["memory_cost"] >= 64 * 1024 and TAG_COST["time_cost"] >= 3
    raw = b"".join(f.read_bytes() for f in (tmp_path / "home").glob("hutong.db*"))
    for plain in _plain_tags(p, REP):
        assert plain != tag and plain.encode() not in raw
    assert p.vault.legal_rep_tag(REP) == tag  # and it still finds the same person:
    assert enterprise(p, account(p), 45)["status"] == "pending"


def test_tags_are_kept_only_while_the_duplicate_rule_needs_them(platform_factory, account, tmp_path):
    p = platform_factory(delete_legal_rep_data_after_days=30)
    enterprise(p, account(p), 46)
    loser = account(p)
    rejected = enterprise(p, loser, 46)  # the same enterprise again: rejected, counts for nothing
    assert rejected["status"] == "rejected"
    with p.developers.db.session() as s:
        row = s.get(Developer, rejected["id"])
        assert row.legal_rep_tag is None and row.legal_rep_id_enc is not None  # kept for an appeal
    # a rejected applicant may have the data deleted too (it was refused only to the verified)
    assert p.developers.erase_legal_rep(loser)["legal_representative"]["deleted"] is True
    with p.developers.db.session() as s:
        row = s.get(Developer, rejected["id"])
        assert row.legal_rep_id_enc is None and row.legal_rep_tag is None


def test_overturned_rejection_counts_again(platform_factory, account):
    p = platform_factory(delete_legal_rep_data_after_days=30, max_enterprises_per_legal_rep=1)
    enterprise(p, account(p), 47, legal_rep_id=resident_id(8))
    acc = account(p)
    enterprise(p, acc, 47)  # uscc-unique: rejected, its tag dropped
    [d] = p.developers.decisions(acc)
    p.developers.appeal(acc, d.id, "The other account was a mistake of our former agency.")
    assert p.developers.resolve_appeal(d.id, overturn=True, note="licence seen", staff="li")
    assert enterprise(p, account(p), 48)["status"] == "pending"  # REP backs one verified enterprise again


def test_purge_erases_rejected_applications_without_an_open_appeal(platform_factory, account):
    p = platform_factory(delete_legal_rep_data_after_days=0)
    enterprise(p, account(p), 49)
    waiting, appealing = account(p), account(p)
    enterprise(p, waiting, 49)
    enterprise(p, appealing, 49)
    [d] = p.developers.decisions(appealing)
    p.developers.appeal(appealing, d.id, "We are the real enterprise, here is why.")
    assert p.developers.purge_due() == 1
    with p.developers.db.session() as s:
        kept = {r.account_id: r.legal_rep_id_enc is not None for r in s.execute(select(Developer)).scalars()}
    assert kept[waiting] is False and kept[appealing] is True


def test_concurrent_deposit_guesses_are_counted_atomically(platform_factory, account, tmp_path):
    """Finding 10: the attempt counter lost updates (limit 3; up to 6 guesses evaluated)."""
    import threading

    from hutong.platform.bank import FakeBank

    p = platform_factory(micro_deposit_attempts=3)
    bank = FakeBank(tmp_path / "home" / "fake-bank")
    acc = account(p)
    dev = enterprise(p, acc, 50, route="micro_deposit", legal_rep_name="", legal_rep_id="",
                     bank_account="62220200123456789")  # fmt: skip
    with p.developers.db.session() as s:
        amount = bank.last_deposit(s.get(Developer, dev["id"]).evidence["reference"])
    wrong = [a for a in range(1, 100) if a != amount]
    threads_n = 12
    start = threading.Barrier(threads_n)
    outcomes: list[str] = []

    def guess(i: int) -> None:
        start.wait()
        try:
            outcomes.append(p.developers.confirm_deposit(acc, wrong[i])["status"])
        except PlatformError as exc:
            outcomes.append(f"{exc.status}: {exc}")

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == threads_n, outcomes
    evaluated = [o for o in outcomes if o == "rejected" or "not the amount" in o]
    assert len(evaluated) == 3 and outcomes.count("rejected") == 1, outcomes
    assert all(o in evaluated or o.startswith("409") for o in outcomes), outcomes
    with p.developers.db.session() as s:
        decisions = s.execute(
            select(ReviewDecision).where(ReviewDecision.developer_id == dev["id"])
        ).scalars()
        assert [d.outcome for d in decisions] == ["pending", "rejected"]
    with pytest.raises(PlatformError, match="no deposit waiting"):
        p.developers.confirm_deposit(acc, amount)  # the right amount after the limit verifies nothing


def _signed(key, claims: dict) -> str:
    from joserfc import jwt

    return jwt.encode({"alg": "Ed25519", "kid": key.kid}, claims, key, algorithms=["Ed25519"])


def test_attestation_times_are_checked(platform_factory, account, attester_key):
    """Low: a far-future verified_on, a past exp or a future nbf were accepted."""
    import time

    from tests.platform.conftest import ATTESTER

    p = platform_factory()
    now = int(time.time())
    base = {"iss": ATTESTER, "legal_representative_verified": True, "verified_on": date.today().isoformat()}
    cases = [
        ({"verified_on": (date.today() + timedelta(days=30)).isoformat()}, "verified_on is in the future"),
        ({"verified_on": "2999-01-01T00:00:00+08:00"}, "verified_on is in the future"),
        ({"verified_on": "not a date"}, "not a date"),
        ({"verified_on": 20261124}, "not a date"),
        ({"exp": now - 3600}, "expired"),
        ({"exp": "tomorrow"}, "exp"),
        ({"nbf": now + 3600}, "not valid before"),
        ({"exp": float("nan")}, "exp is not a NumericDate"),
        ({"iat": now + 3600}, "issued in the future"),
    ]
    for n, (extra, needle) in enumerate(cases, start=60):
        a = account(p)
        token = _signed(attester_key, {**base, "sub": uscc(n), **extra})
        out = enterprise(p, a, n, route="attestation", legal_rep_name="", legal_rep_id="", attestation=token)
        assert out["status"] == "rejected", extra
        assert needle in p.developers.decisions(a)[0].reason, (extra, p.developers.decisions(a)[0].reason)
    # small clock skew between the verifier and this platform is allowed
    ok = {"exp": now - 60, "nbf": now + 60, "iat": now + 60}
    token = _signed(attester_key, {**base, "sub": uscc(80), **ok})
    out = enterprise(
        p, account(p), 80, route="attestation", legal_rep_name="", legal_rep_id="", attestation=token
    )
    assert out["status"] == "verified"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"display_name": "Studio\ud800"}, "display_name"),  # a lone surrogate (JSON "\ud800"): was a 500
        ({"company_name": "某某\udfff传媒"}, "company_name"),
        ({"legal_rep_name": "张\ud800"}, "legal_rep_name"),
        ({"display_name": "Studio\x00"}, "display_name"),
        ({"company_name": "某某\x1b[31m传媒"}, "company_name"),
        ({"display_name": "\u202eoidutS"}, "display_name"),  # right-to-left override: a spoofed name
        ({"display_name": "\u200b\u200b"}, "display_name"),  # nothing visible
        ({"legal_rep_name": "\u200b"}, "legal_rep_name"),
        ({"legal_rep_name": "\u0301\u0301"}, "legal_rep_name"),  # combining marks only
        ({"legal_rep_name": "张\n三"}, "legal_rep_name"),
        ({"uscc": "\ud800" * 18}, "uscc"),
        ({"route": "attestation", "attestation": "a.\ud800.b"}, "attestation"),
        ({"route": "micro_deposit", "bank_account": "6222\ud800020012345678"}, "bank_account"),
    ],
)
def test_odd_unicode_in_registration_is_refused_with_422(platform_factory, account, kw, needle):
    p = platform_factory()
    acc = account(p)
    with pytest.raises(PlatformError, match=needle) as err:
        enterprise(p, acc, 51, **kw)
    assert err.value.status == 422
    with pytest.raises(PlatformError, match="display_name") as err:
        p.developers.register_individual(acc, "\ud800")
    assert err.value.status == 422
    with p.developers.db.session() as s:
        assert s.execute(select(Developer)).first() is None


def test_odd_unicode_in_appeals_and_notes_is_refused_with_422(platform_factory, account):
    p = platform_factory()
    enterprise(p, account(p), 52)
    acc = account(p)
    enterprise(p, acc, 52)
    [d] = p.developers.decisions(acc)
    for call in (
        lambda: p.developers.appeal(acc, d.id, "A long enough reason \ud800"),
        lambda: p.developers.appeal(acc, d.id, "A long enough reason \x00 with NUL"),
    ):
        with pytest.raises(PlatformError, match="appeal") as err:
            call()
        assert err.value.status == 422
    appealed = p.developers.appeal(acc, d.id, "Line one of the reason.\nLine two, with\ttab.")
    assert appealed.appeal_status == "open"
    with pytest.raises(PlatformError, match="note") as err:
        p.developers.resolve_appeal(d.id, overturn=False, note="no \ud800", staff="li")
    assert err.value.status == 422


def test_upgrade_stretches_the_old_hmacs_and_shortens_the_masks(tmp_path):
    """The migration needs no ID: the old keyed HMAC is stretched in place, so duplicates are still found;
    review decisions survive (no table copy that would cascade-delete them)."""
    from sqlalchemy import text

    from hutong.platform.vault import Vault
    from hutong.store import Database
    from hutong.store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    migrate(engine, "0004")  # a home made before this change
    vault = Vault(tmp_path / "keys")
    old_hmac = vault.fingerprint(REP, purpose="resident-id")
    with engine.begin() as conn:
        for i, status in ((1, "verified"), (2, "rejected")):
            conn.execute(text(
                "INSERT INTO accounts VALUES (:i, :u, '', '', 'x', 0, '2026-01-01 00:00:00.000000')"), {"i": i, "u": f"u{i}"})  # fmt: skip
            conn.execute(
                text(
                    "INSERT INTO developers (id, account_id, kind, display_name, status, company_name, uscc,"
                    " route, legal_rep_key_id, legal_rep_id_hmac, legal_rep_id_masked, legal_rep_name_masked,"
                    " evidence, policy_version, created_at) VALUES (:i, :i, 'enterprise', 'S', :s, 'C', :c,"
                    " 'resident_id', '', :h, :m, 'J*** S****', '{}', 'v', '2026-01-01 00:00:00.000000')"
                ),
                {"i": i, "s": status, "c": uscc(i), "h": old_hmac, "m": REP[:4] + "*" * 10 + REP[-4:]},
            )
            conn.execute(text(
                "INSERT INTO review_decisions (developer_id, subject, outcome, rule, reason, policy_version,"
                " decided_by, at, appeal_text, appeal_status, appeal_resolution) VALUES (:i, 'developer', 'approved',"
                " 'verified', 'r', 'v', 'policy', '2026-01-01 00:00:00.000000', '', '', '')"), {"i": i})  # fmt: skip
    engine.dispose()
    db = Database(url)  # upgrades to head
    with db.session() as s:
        verified, rejected = s.get(Developer, 1), s.get(Developer, 2)
        assert verified.legal_rep_tag == vault.legal_rep_tag(REP) != old_hmac
        assert rejected.legal_rep_tag is None
        assert (
            verified.legal_rep_id_masked == "*" * 16 + REP[-2:]
            and verified.legal_rep_name_masked == "J********"
        )
        assert verified.deposit_attempts == 0
        assert s.execute(select(func.count(ReviewDecision.id))).scalar_one() == 2
    db.dispose()
