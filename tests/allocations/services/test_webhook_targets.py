"""Where a webhook may point (issue 21, item 9): https to public addresses only, checked at save and at
every delivery; http and inner addresses only for hosts in WEBHOOK_ALLOWED_HOSTS."""

from __future__ import annotations

import pytest

from allocations.errors import DomainError
from allocations.models import DeliveryAttempt, WebhookEndpoint
from allocations.services import webhook_targets
from allocations.services.actors import Actor
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.webhook_delivery import webhook_deliveries_send_due
from allocations.services.webhook_endpoints import webhook_endpoint_create, webhook_endpoint_update
from allocations.services.webhook_targets import webhook_target_check
from tests.allocations.jobs_support import Receiver, book
from tests.allocations.webhook_receivers import OK, RawReceiver, redirect_to

ACTOR = Actor.system("test")
PUBLIC = "93.184.215.14"

REFUSED = [
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata.google.internal./computeMetadata/v1/",
    "https://127.0.0.1:5432/",
    "http://127.0.0.1:5432/",
    "https://[::1]/hook",
    "https://0.0.0.0/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://[fd00:ec2::254]/latest/",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[2002:a9fe:a9fe::1]/latest/",  # 6to4 around 169.254.169.254
    "https://[64:ff9b::a9fe:a9fe]/latest/",  # NAT64 around 169.254.169.254
    "https://100.100.100.200/latest/meta-data/",
    "https://224.0.0.1/hook",
    "https://localhost/hook",
    "https://user:pass@orders.example/hook",
    "https://token@orders.example/hook",
    "http://orders.example/hook",  # plain http to a host not allowed
    "ftp://orders.example/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "https://orders.example\u202e/kooh",  # a bidi override: reads otherwise than it resolves
    "https://orders\u200b.example/hook",  # a zero-width space
    "https://orders.example/ho ok",
    "https://orders.example:99999/hook",
]


@pytest.fixture(autouse=True)
def nothing_allowed(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []


@pytest.mark.parametrize("url", REFUSED)
def test_inner_metadata_credentialed_and_odd_targets_are_refused(url):
    with pytest.raises(DomainError) as refused:
        webhook_target_check(url)
    assert refused.value.field == "url"


def test_a_name_is_refused_when_any_of_its_addresses_is_inner(monkeypatch):
    monkeypatch.setattr(webhook_targets, "resolve", lambda host, port: [PUBLIC, "10.0.0.7"])
    with pytest.raises(DomainError, match="10.0.0.7, a private address"):
        webhook_target_check("https://mixed.example/hook")


def test_a_public_https_target_passes_with_the_addresses_it_was_checked_at():
    target = webhook_target_check("https://orders.example:8443/hook?portfolio=demo")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "orders.example",
        8443,
        "/hook?portfolio=demo",
    )
    assert target.addresses == (PUBLIC,)


def test_an_allowed_host_may_use_http_and_an_inner_address(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    target = webhook_target_check("http://127.0.0.1:8080/hook")
    assert target.addresses == ("127.0.0.1",)
    with pytest.raises(DomainError, match="credentials"):
        webhook_target_check("http://u:p@127.0.0.1:8080/hook")


@pytest.fixture
def portfolio(db):
    return book("targets", transition_period_days=1, max_daily_change=1.0)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5432/", "https://169.254.169.254/", "https://metadata.google.internal/"]
)
def test_saving_an_inner_target_is_refused_on_create_and_on_repoint(portfolio, url):
    with pytest.raises(DomainError) as refused:
        webhook_endpoint_create(portfolio=portfolio, url=url, actor=ACTOR)
    assert refused.value.field == "url" and not WebhookEndpoint.objects.exists()
    endpoint = webhook_endpoint_create(portfolio=portfolio, url="https://orders.example/hook", actor=ACTOR)
    with pytest.raises(DomainError):
        webhook_endpoint_update(endpoint=endpoint, actor=ACTOR, url=url)
    endpoint.refresh_from_db()
    assert endpoint.url == "https://orders.example/hook"


def test_a_name_that_turns_inward_after_its_save_is_refused_at_delivery(portfolio, monkeypatch):
    """DNS rebinding: public when saved, 127.0.0.1 when delivered; nothing reaches the inner server."""
    with Receiver(status=200) as inner:
        port = inner.server.server_address[1]
        webhook_endpoint_create(portfolio=portfolio, url=f"https://rebind.example:{port}/orders", actor=ACTOR)
        monkeypatch.setattr(webhook_targets, "resolve", lambda host, port: ["127.0.0.1"])
        allocation_run_create(portfolio=portfolio, actor=ACTOR, request=RebalanceRequest())
        counts = webhook_deliveries_send_due()
        assert counts["delivered"] == 0 and counts["retrying"] == 2
        assert inner.requests == []
    attempt = DeliveryAttempt.objects.first()
    assert attempt.status_code is None and "target refused" in attempt.error and "loopback" in attempt.error


def test_a_redirect_is_not_followed_and_the_signature_goes_nowhere_else(portfolio, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with RawReceiver(OK) as metrics, RawReceiver(redirect_to("PLACEHOLDER")) as hook:
        hook.answer = redirect_to(metrics.url.replace("/orders", "/metrics"))
        webhook_endpoint_create(portfolio=portfolio, url=hook.url, actor=ACTOR)
        allocation_run_create(portfolio=portfolio, actor=ACTOR, request=RebalanceRequest())
        counts = webhook_deliveries_send_due()
    assert counts["delivered"] == 0 and counts["retrying"] == 2
    assert metrics.requests == []  # the redirect's target was never asked
    attempt = DeliveryAttempt.objects.first()
    assert attempt.status_code == 302 and "not followed" in attempt.error


def test_a_redirect_to_ftp_opens_no_connection(portfolio, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with RawReceiver(OK) as ftp, RawReceiver(OK) as hook:
        hook.answer = redirect_to(f"ftp://127.0.0.1:{ftp.port}/x")
        webhook_endpoint_create(portfolio=portfolio, url=hook.url, actor=ACTOR)
        allocation_run_create(portfolio=portfolio, actor=ACTOR, request=RebalanceRequest())
        assert webhook_deliveries_send_due()["delivered"] == 0
    assert ftp.requests == []
