"""The revenue ledger: revenue to the creator or, on a claimed post, to its holders split by matched clip
seconds; held while disputed and paid to the winner; idempotent reports; bad reports refused; statements.
A property-based test runs random sequences of claims, disputes, revenue reports and releases and checks
that every movement balances and no minor unit is lost or made."""

import csv
import io
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hutong.app import Hutong
from hutong.claims import ClaimError, PolicyRules, money, split
from hutong.config import get_settings
from tests.claims.conftest import HOLDER, Clock, post_of, seg, use


def monetise(desk, holder=HOLDER):
    desk.policies.set(holder, PolicyRules.parse({"default": "monetise"}))


def balances(desk) -> dict:
    return {k: v.get("CNY", 0) for k, v in desk.ledger.balances().items()}


def test_split_is_exact():
    assert split(100, [1, 1, 1]) == [34, 33, 33]
    assert split(7, [2.0, 1.0]) == [5, 2]
    assert sum(split(10**12 + 7, [0.3, 0.3, 0.4])) == 10**12 + 7
    assert money(12345, "CNY") == "123.45" and money(500, "JPY") == "500" and money(-5, "USD") == "-0.05"


def test_unclaimed_post_pays_its_creator(desk):
    post = post_of(desk, "clip")
    out = desk.ledger.report("douyin-app", "r-1", post, 1000, "cny")
    assert out["currency"] == "CNY" and not out["replay"]
    assert balances(desk) == {"platform:douyin-app": -1000, "creator:alice": 1000}


def test_claimed_post_split_by_matched_duration_among_holders(desk):
    monetise(desk)
    monetise(desk, "Studio B")
    desk.claims.record(
        use("clip", seg(1, 0, 30), seg(3, 30, 40))
    )  # 30 s for the Foundation, 10 s for Studio B
    post = post_of(desk, "clip")
    desk.ledger.report("app", "r-1", post, 1001, "CNY")
    assert balances(desk) == {"platform:app": -1001, f"holder:{HOLDER}": 751, "holder:Studio B": 250}


def test_disputed_revenue_is_held_and_paid_to_the_winner(desk):
    monetise(desk)
    (c,) = desk.claims.record(use("clip", seg(1, 0, 30)))
    post = post_of(desk, "clip")
    desk.disputes.open(c["code"], "alice", "fair-use")
    desk.ledger.report("app", "r-1", post, 500, "CNY")
    assert balances(desk)[f"held:{c['code']}"] == 500
    assert desk.ledger.statement(creator="alice")["held"] == {"CNY": 500}
    desk.disputes.answer(c["code"], HOLDER, "release")
    b = balances(desk)
    assert (b[f"held:{c['code']}"], b["creator:alice"]) == (0, 500)
    desk.ledger.report("app", "r-2", post, 300, "CNY")  # a released claim takes nothing more
    assert balances(desk)["creator:alice"] == 800
    assert desk.ledger.unbalanced() == []


def test_reinstated_claim_upheld_pays_the_holder(desk):
    monetise(desk)
    (c,) = desk.claims.record(use("clip", seg(1, 0, 30)))
    post = post_of(desk, "clip")
    desk.disputes.open(c["code"], "alice", "fair-use")
    desk.ledger.report("app", "r-1", post, 500, "CNY")
    desk.disputes.answer(c["code"], HOLDER, "reinstate")
    desk.disputes.appeal(c["code"], "alice", "please")
    desk.disputes.answer(c["code"], HOLDER, "uphold")
    assert balances(desk)[f"holder:{HOLDER}"] == 500


def test_revenue_bad_input(desk):
    post = post_of(desk, "clip")
    desk.ledger.report("app", "r-1", post, 100, "CNY")
    again = desk.ledger.report("app", "r-1", post, 100, "CNY")
    assert again["replay"] and balances(desk)["creator:alice"] == 100  # recorded once
    cases = [
        (("app", "r-1", post, 200, "CNY"), "already recorded with other figures", 409),
        (("app", "r-2", post, -5, "CNY"), "revenue cannot be negative", 422),
        (("app", "r-2", post, 0, "CNY"), "from 1 to", 422),
        (("app", "r-2", post, 1.5, "CNY"), "whole number of minor units", 422),
        (("app", "r-2", post, 100, "XYZ"), "'XYZ' is not an ISO 4217 code", 422),
        (("app", "r-2", post, 100, "yuan"), "not an ISO 4217 code", 422),
        (("app", "r-2", "p_nope", 100, "CNY"), "no post 'p_nope'", 404),
        (("app", "", post, 100, "CNY"), "report_id", 422),
    ]
    for args, needle, status in cases:
        with pytest.raises(ClaimError, match=needle) as e:
            desk.ledger.report(*args)
        assert e.value.status == status
    assert balances(desk) == {"platform:app": -100, "creator:alice": 100}


def test_statements_json_and_csv(desk, clock):
    monetise(desk)
    desk.claims.record(use("clip", seg(1, 0, 30)))
    post = post_of(desk, "clip")
    desk.ledger.report("app", "r-1", post, 1234, "CNY")
    clock.advance(days=40)
    desk.ledger.report("app", "r-2", post, 100, "CNY")
    from datetime import timedelta

    start = clock.now.replace(day=1, hour=0) - timedelta(days=40)
    st_ = desk.ledger.statement(holder=HOLDER, start=start, end=start + timedelta(days=31))
    assert st_["totals"] == {"CNY": 1234} and st_["totals_text"] == {"CNY": "12.34"}
    assert [(line["kind"], line["post_id"], line["amount"]) for line in st_["lines"]] == [
        ("revenue", post, "12.34")
    ]
    rows = list(csv.DictReader(io.StringIO(desk.ledger.csv(st_))))
    assert rows[0]["amount"] == "12.34" and rows[0]["currency"] == "CNY" and rows[0]["post_id"] == post
    with pytest.raises(ClaimError, match="one holder or one creator"):
        desk.ledger.statement()


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.integers(0, 3), st.sampled_from([1, 2, 3]), st.integers(1, 30)),
        st.tuples(
            st.just("revenue"),
            st.integers(0, 3),
            st.integers(-5, 10**9),
            st.sampled_from(["CNY", "JPY", "QQQ"]),
        ),
        st.tuples(st.just("dispute"), st.integers(0, 20)),
        st.tuples(st.just("answer"), st.integers(0, 20), st.sampled_from(["reinstate", "release", "uphold"])),
        st.tuples(st.just("appeal"), st.integers(0, 20)),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("days"), st.integers(1, 40)),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_ledger_always_balances(registered_home, tmp_path_factory, ops):
    home = tmp_path_factory.mktemp("prop")
    shutil.rmtree(home)
    shutil.copytree(registered_home, home)
    clock = Clock()
    h = Hutong.create(get_settings(home=home), clock=clock)
    try:
        from hutong.store import Work

        with h.db.session() as s:
            s.get(Work, 3).holder = "Studio B"
        h.creators.add("alice", name="Alice", verified=True)
        monetise(h)
        monetise(h, "Studio B")
        posts = [post_of(h, f"clip{i}") for i in range(4)]
        reported = 0
        for i, op in enumerate(ops):
            codes = [c["code"] for c in h.claims.list()]
            try:
                if op[0] == "claim":
                    h.claims.record(use(f"clip{op[1]}", seg(op[2], 0, op[3])))
                elif op[0] == "revenue":
                    h.ledger.report("app", f"r{i}", posts[op[1]], op[2], op[3])
                    reported += op[2]
                elif op[0] == "days":
                    clock.advance(days=op[1])
                    h.disputes.run_deadlines()
                elif codes:
                    code = codes[op[1] % len(codes)]
                    holder = h.claims.get(code)["holder"]
                    if op[0] == "dispute":
                        h.disputes.open(code, "alice", "fair-use")
                    elif op[0] == "answer":
                        h.disputes.answer(code, holder, op[2])
                    elif op[0] == "appeal":
                        h.disputes.appeal(code, "alice", "please")
                    else:
                        h.claims.release(code, holder, "fine")
            except ClaimError:
                pass  # refused operations must leave the ledger as it was: checked below
            assert h.ledger.unbalanced() == []
        totals: dict[str, int] = {}
        for account, by_currency in h.ledger.balances().items():
            for currency, amount in by_currency.items():
                totals[currency] = totals.get(currency, 0) + amount
                if not account.startswith("platform:"):
                    assert amount >= 0, (account, amount)
        assert all(v == 0 for v in totals.values())
        assert -sum(h.ledger.balances("platform:").get("platform:app", {}).values()) == reported
        # nothing held on a decided claim
        for c in h.claims.list():
            if c["status"] in ("released", "active", "upheld"):
                assert sum(h.ledger.balances(f"held:{c['code']}").get(f"held:{c['code']}", {}).values()) == 0
    finally:
        h.close()
