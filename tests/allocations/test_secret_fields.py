"""Webhook secrets encrypted at rest (issue 21, item 15): a database dump holds ciphertext only, the
service reads the plain secret back, and migration 0019 encrypts the rows written before it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from allocations.secret_box import PREFIX, decrypt, encrypt, fernet_key
from allocations.services.actors import Actor
from allocations.services.webhook_endpoints import webhook_endpoint_create
from tests.factories import PortfolioFactory


def _stored_secrets() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM allocations_webhookendpoint ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_a_secret_is_stored_encrypted_and_read_back_plain():
    portfolio = PortfolioFactory(slug="enc")
    endpoint = webhook_endpoint_create(portfolio=portfolio, url="https://orders.example/h", actor=Actor.system("t"))
    [stored] = _stored_secrets()
    assert stored.startswith(PREFIX) and endpoint.secret not in stored
    assert type(endpoint).objects.get(pk=endpoint.pk).secret == endpoint.secret
    assert len(endpoint.secret) == 64


def test_the_key_is_derived_from_the_setting_and_a_fallback_still_reads(settings):
    settings.WEBHOOK_SECRET_KEY = "k" * 40
    settings.WEBHOOK_SECRET_KEY_FALLBACKS = []
    old = encrypt("the secret")
    assert fernet_key("k" * 40) != fernet_key(settings.AUDIT_HMAC_KEY)
    settings.WEBHOOK_SECRET_KEY, settings.WEBHOOK_SECRET_KEY_FALLBACKS = "n" * 40, ["k" * 40]
    assert decrypt(old) == "the secret"
    settings.WEBHOOK_SECRET_KEY_FALLBACKS = []
    with pytest.raises(Exception, match="WEBHOOK_SECRET_KEY"):
        decrypt(old)


@pytest.mark.django_db(transaction=True)
def test_migration_0019_encrypts_the_secrets_written_before_it_and_back():
    before, after = [("allocations", "0018_four_eyes_everywhere")], [("allocations", "0019_webhooks_hardened")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = MigrationExecutor(connection).loader.project_state(before).apps
    portfolio = apps.get_model("allocations", "Portfolio").objects.create(slug="legacy", name="Legacy")
    apps.get_model("allocations", "WebhookEndpoint").objects.create(
        portfolio=portfolio, url="https://orders.example/old", secret="ab" * 32
    )
    assert _stored_secrets() == ["ab" * 32]
    try:
        MigrationExecutor(connection).migrate(after)
        [stored] = _stored_secrets()
        assert stored.startswith(PREFIX) and decrypt(stored) == "ab" * 32
        MigrationExecutor(connection).migrate(before)
        assert _stored_secrets() == ["ab" * 32]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_after_a_key_change_the_command_moves_every_secret_to_the_new_key(settings):
    from django.core.management import call_command

    settings.WEBHOOK_SECRET_KEY, settings.WEBHOOK_SECRET_KEY_FALLBACKS = "o" * 40, []
    endpoint = webhook_endpoint_create(
        portfolio=PortfolioFactory(slug="rot"), url="https://orders.example/r", actor=Actor.system("t")
    )
    settings.WEBHOOK_SECRET_KEY, settings.WEBHOOK_SECRET_KEY_FALLBACKS = "n" * 40, ["o" * 40]
    call_command("webhook_secrets_reencrypt")
    settings.WEBHOOK_SECRET_KEY_FALLBACKS = []  # the old key is gone: the rows read under the new one alone
    assert type(endpoint).objects.get(pk=endpoint.pk).secret == endpoint.secret
