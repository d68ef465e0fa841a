"""Webhooks: the address policy at registration and at every delivery, Standard Webhooks signatures, and a
worker where one slow endpoint delays no other app and no chore. Receivers are real sites on loopback."""

import asyncio
import json
import time

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hutong.api.background import Background, free_port
from hutong.config import get_settings
from hutong.errors import PlatformError
from hutong.platform.apps import Apps
from hutong.platform.outbound import Outbound, Policy
from hutong.platform.webhooks import NO_ANSWER, NOT_PUBLIC, Webhooks, Worker, verify_webhook

LOOPBACK = ["127.0.0.0/8", "::1/128"]


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, bytes, float]] = []

        async def hook(request: Request):
            self.calls.append(
                (request.url.path, dict(request.headers), await request.body(), time.monotonic())
            )
            if request.url.path == "/slow":
                await asyncio.sleep(4)  # twice the attempt deadline
            return JSONResponse({"ok": True})

        self.app = Starlette(
            routes=[Route("/fast", hook, methods=["POST"]), Route("/slow", hook, methods=["POST"])]
        )


@pytest.fixture
def receiver():
    r, port = Receiver(), free_port()
    with Background(r.app, port):
        yield r, f"http://127.0.0.1:{port}"


@pytest.fixture
def developer(platform_factory, account):
    p = platform_factory()
    acc = account(p)
    p.developers.register_individual(acc, "Alice")
    return p, p.developers.verified_developer_id(acc)


def register(apps: Apps, dev_id: int, url: str) -> dict:
    app, _ = apps.register(dev_id, name="Hooked", client_type="confidential", redirect_uris=["https://a.example/cb"],
                           scopes=["openid"], webhook_url=url)  # fmt: skip
    return app


@pytest.mark.parametrize(
    ("url", "needle"),
    [("http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback address"), ("http://10.0.0.1/", "10.0.0.1 is a private"),
     ("http://[::1]:9/x", "::1 is a loopback"), ("http://100.100.100.200/", "shared (carrier-grade NAT)"),
     ("http://169.254.169.254/latest/meta-data", "link-local"), ("http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"),
     ("http://ｌocalhost:8000/", "localhost must resolve to public addresses only"), ("http://a..b/", "not a valid URL"),
     ("ftp://example.org/", "http(s)"), ("https://user:pw@example.org/", "no user name or password")],
)  # fmt: skip
def test_the_default_policy_refuses_internal_webhook_urls_at_registration(developer, url, needle):
    """Regression: webhook_url accepted loopback, private and link-local addresses. Nothing is connected to:
    literals are judged as they are, and a name only resolved."""
    p, dev_id = developer
    apps = Apps(p.apps.db, p.policy, p.vault, outbound=Outbound(Policy()))  # the default policy, explicitly
    with pytest.raises(PlatformError) as err:
        register(apps, dev_id, url)
    assert err.value.status == 422 and needle in str(err.value) and "webhook_url" in str(err.value)
    assert p.apps.of_developer(dev_id) == []  # nothing stored


def test_the_platform_takes_its_address_policy_from_the_settings(developer, tmp_path):
    p, dev_id = developer  # built by the composition root with the default settings
    with pytest.raises(PlatformError, match="loopback"):
        register(p.apps, dev_id, "http://127.0.0.1:8000/hook")
    settings = get_settings(home=tmp_path / "other", outbound_allow_networks=LOOPBACK)
    apps = Apps(p.apps.db, p.policy, p.vault, outbound=Outbound.from_settings(settings))
    assert register(apps, dev_id, "http://127.0.0.1:8000/hook")["webhook_url"]


def services(p, tmp_path, *, allow=LOOPBACK, timeout=1.0, attempts=3) -> tuple[Apps, Webhooks]:
    settings = get_settings(home=tmp_path / "home", outbound_allow_networks=allow, webhook_timeout=timeout)
    apps = Apps(p.apps.db, p.policy, p.vault, outbound=Outbound.from_settings(settings))
    hooks = Webhooks(p.apps.db, p.vault, attempts=attempts, backoff=0.2, timeout=settings.webhook_timeout,
                     outbound=Outbound.from_settings(settings))  # fmt: skip
    return apps, hooks


def test_deliveries_follow_standard_webhooks(developer, receiver, tmp_path):
    p, dev_id = developer
    r, base = receiver
    apps, hooks = services(p, tmp_path)
    app = register(apps, dev_id, base + "/fast")
    secret = app["webhook_secret"]
    assert secret.startswith("whsec_")
    hooks.enqueue(app["client_id"], "post.published", {"post_id": "p_1"})
    assert hooks.deliver_due() == 1
    [(_, headers, body, _)] = r.calls
    assert Webhook(secret).verify(body, headers) == {"type": "post.published", "timestamp": json.loads(body)["timestamp"],
                                                     "data": {"post_id": "p_1"}}  # fmt: skip
    assert headers["webhook-id"] == f"msg_{hooks.deliveries(app['client_id'])[0]['id']}"
    assert verify_webhook(secret, headers, body)
    assert not verify_webhook(secret, headers, body.replace(b"p_1", b"p_2"))
    assert not verify_webhook("whsec_" + "A" * 43, headers, body) and not verify_webhook("", headers, body)
    assert not verify_webhook(secret, {**headers, "webhook-signature": "garbage"}, body)
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    assert not verify_webhook(secret, stale, body)
    assert [d["status"] for d in hooks.deliveries(app["client_id"])] == ["delivered"]


def test_every_delivery_checks_the_address_again_and_the_log_tells_no_port_apart(
    developer, receiver, tmp_path
):
    """Registered while loopback was allowed, delivered under the default policy: nothing is sent, and an
    open port and a closed one read the same in the log (no port scanner)."""
    p, dev_id = developer
    r, base = receiver
    apps, _ = services(p, tmp_path)
    _, strict = services(p, tmp_path, allow=[])
    open_app = register(apps, dev_id, base + "/fast")
    closed_app = register(apps, dev_id, f"http://127.0.0.1:{free_port()}/hook")
    for app in (open_app, closed_app):
        strict.enqueue(app["client_id"], "post.published", {"post_id": "p_1"})
    strict.deliver_due()
    assert r.calls == []
    outcomes = [
        [e["outcome"] for e in strict.deliveries(a["client_id"])[0]["log"]] for a in (open_app, closed_app)
    ]
    assert outcomes[0] == outcomes[1] == [NOT_PUBLIC]


def test_transport_failures_all_read_could_not_deliver(developer, tmp_path):
    p, dev_id = developer
    apps, hooks = services(p, tmp_path, attempts=1)
    app = register(apps, dev_id, f"http://127.0.0.1:{free_port()}/hook")  # nothing listens
    hooks.enqueue(app["client_id"], "post.published", {})
    assert hooks.deliver_due() == 1
    [d] = hooks.deliveries(app["client_id"])
    assert d["status"] == "failed" and d["last_error"] == f"gave up after 1 attempts: {NO_ANSWER}"
    assert d["log"][0]["outcome"] == NO_ANSWER and "refused" not in json.dumps(d).lower()


def test_a_slow_endpoint_delays_no_other_app_and_no_chore(developer, receiver, tmp_path):
    """Regression: one delivery thread with a per-read timeout, shared with the upload clean-up: a slow
    endpoint stalled every app's deliveries and the chores."""
    p, dev_id = developer
    r, base = receiver
    apps, hooks = services(p, tmp_path, timeout=2.0)
    slow, fast = register(apps, dev_id, base + "/slow"), register(apps, dev_id, base + "/fast")
    for _ in range(3):
        hooks.enqueue(slow["client_id"], "post.published", {})
    chores: list[float] = []
    worker = Worker(hooks, chores=[(0.05, lambda: chores.append(time.monotonic()))], interval=0.05, workers=2)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not any(path == "/slow" for path, *_ in r.calls):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sent = time.monotonic()
        hooks.enqueue(fast["client_id"], "post.published", {"n": 1})
        while not any(path == "/fast" for path, *_ in r.calls):
            assert time.monotonic() - sent < 1.5, "the fast app waited for the slow one"
            time.sleep(0.02)
        assert [c for c in chores if c > sent], "the chore did not run while a delivery hung"
        assert sum(path == "/slow" for path, *_ in r.calls) == 1  # one at a time per app
        while not hooks.deliveries(slow["client_id"])[0]["log"]:
            assert time.monotonic() - sent < 6, "the attempt outlived its 2 s deadline"
            time.sleep(0.05)
    finally:
        worker.stop()
    assert hooks.deliveries(slow["client_id"])[0]["log"][0]["outcome"] == NO_ANSWER
    assert hooks.deliveries(fast["client_id"])[0]["status"] == "delivered"


def test_two_dispatchers_deliver_each_webhook_once(developer, receiver, tmp_path):
    """Two workers over one database (as two API processes run them): each delivery is claimed by one."""
    p, dev_id = developer
    r, base = receiver
    apps, hooks = services(p, tmp_path)
    clients = [register(apps, dev_id, base + "/fast")["client_id"] for _ in range(4)]
    for n in range(5):
        for client_id in clients:
            hooks.enqueue(client_id, "post.published", {"n": n})
    workers = [Worker(hooks, interval=0.01, workers=4) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 30
        while any(d["status"] == "pending" for c in clients for d in hooks.deliveries(c)):
            assert time.monotonic() < deadline, "deliveries still pending after 30 s"
            time.sleep(0.05)
    finally:
        for w in workers:
            w.stop()
    sent = [headers["webhook-id"] for _, headers, _, _ in r.calls]
    assert len(sent) == 20 and len(set(sent)) == 20  # every delivery once, none twice
    assert all(d["attempts"] == 1 for c in clients for d in hooks.deliveries(c))


def test_a_claimed_delivery_is_not_attempted_again_until_its_claim_lapses(developer, receiver, tmp_path):
    p, dev_id = developer
    r, base = receiver
    apps, hooks = services(p, tmp_path)
    client_id = register(apps, dev_id, base + "/fast")["client_id"]
    delivery_id = hooks.enqueue(client_id, "post.published", {})
    assert hooks._claim(delivery_id)  # a process took it, then died before recording anything
    assert not hooks._claim(delivery_id)
    hooks.attempt(delivery_id)
    assert r.calls == [] and hooks.deliveries(client_id)[0]["attempts"] == 0
    from sqlalchemy import update

    from hutong.store import WebhookDelivery, utcnow

    with p.apps.db.session() as s:  # the claim lapses: the delivery is due again, for any process
        s.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(next_attempt_at=utcnow())
        )
    hooks.attempt(delivery_id)
    assert len(r.calls) == 1 and hooks.deliveries(client_id)[0]["status"] == "delivered"
