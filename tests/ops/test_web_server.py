"""deploy/web.py: granian's options from the environment, a bad value stopping start-up with its name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def web(monkeypatch):
    for name in ("WEB_BIND", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT", "WEB_MAX_RSS_MB"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("deploy_web", ROOT / "deploy" / "web.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_two_workers_of_two_threads_on_loopback(web):
    options = web.server_options()
    assert (options["address"], options["port"]) == ("127.0.0.1", 8000)
    assert (options["workers"], options["blocking_threads"], options["workers_kill_timeout"]) == (2, 2, 30)
    assert options["workers_max_rss"] is None and options["respawn_failed_workers"] is True
    assert options["log_access"] is False  # the application writes the request line, with its context


def test_the_environment_sets_each_option(web, monkeypatch):
    monkeypatch.setenv("WEB_BIND", "0.0.0.0:8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.setenv("WEB_THREADS", "3")
    monkeypatch.setenv("WEB_TIMEOUT", "12")
    monkeypatch.setenv("WEB_MAX_RSS_MB", "512")
    options = web.server_options()
    assert (options["address"], options["port"], options["workers"], options["blocking_threads"]) == (
        "0.0.0.0",
        8123,
        4,
        3,
    )
    assert (options["workers_kill_timeout"], options["workers_max_rss"]) == (12, 512)
    monkeypatch.setenv("WEB_BIND", "[::1]:9000")
    assert (web.server_options()["address"], web.server_options()["port"]) == ("::1", 9000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_BIND", "8000"),
        ("WEB_BIND", "localhost:http"),
        ("WEB_BIND", "localhost:70000"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_THREADS", "two"),
        ("WEB_MAX_RSS_MB", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(web, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        web.server_options()


def test_the_json_log_config_is_a_complete_one_for_granian(web):
    # granian replaces its default "loggers" with ours as a whole: its own logger must be there
    assert {"_granian", "granian.access"} <= set(web.LOGGING["loggers"])
    assert web.LOGGING["formatters"]["json"]["()"] == "capital_allocation.logs.JsonLineFormatter"
