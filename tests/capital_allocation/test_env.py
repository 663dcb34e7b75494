"""Settings from the environment: good defaults, and a bad value names its variable."""

from __future__ import annotations

import os
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from capital_allocation import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw, expected", [("1", True), ("TRUE", True), (" yes ", True), ("off", False), ("0", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("DEBUG", raw)
    assert env.env_bool("DEBUG", not expected) is expected


def test_env_bool_default_when_unset(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    assert env.env_bool("DEBUG", True) is True
    assert env.env_bool("DEBUG", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "enabled"])
def test_bad_debug_names_debug(monkeypatch, raw):
    monkeypatch.setenv("DEBUG", raw)
    with pytest.raises(ImproperlyConfigured, match=r"^DEBUG: .*" + raw):
        env.env_bool("DEBUG", False)


def test_env_int(monkeypatch):
    monkeypatch.setenv("HEALTH_BROKER_TIMEOUT", "5")
    assert env.env_int("HEALTH_BROKER_TIMEOUT", 2, minimum=1) == 5
    monkeypatch.setenv("HEALTH_BROKER_TIMEOUT", "five")
    with pytest.raises(ImproperlyConfigured, match="^HEALTH_BROKER_TIMEOUT: expected an integer"):
        env.env_int("HEALTH_BROKER_TIMEOUT", 2)
    monkeypatch.setenv("HEALTH_BROKER_TIMEOUT", "0")
    with pytest.raises(ImproperlyConfigured, match="^HEALTH_BROKER_TIMEOUT: must be at least 1"):
        env.env_int("HEALTH_BROKER_TIMEOUT", 2, minimum=1)


def test_env_float(monkeypatch):
    """Issue 21 item 17: MAX_ABS_DAILY_RETURN is a number read here, refused loudly when it is not one."""
    monkeypatch.delenv("MAX_ABS_DAILY_RETURN", raising=False)
    assert env.env_float("MAX_ABS_DAILY_RETURN", 0.5, above=0) == 0.5
    monkeypatch.setenv("MAX_ABS_DAILY_RETURN", "0.25")
    assert env.env_float("MAX_ABS_DAILY_RETURN", 0.5, above=0) == 0.25
    refused = [("half", "expected a number"), ("inf", "expected a finite number"), ("0", "must be greater than 0")]
    for raw, message in refused:
        monkeypatch.setenv("MAX_ABS_DAILY_RETURN", raw)
        with pytest.raises(ImproperlyConfigured, match=f"^MAX_ABS_DAILY_RETURN: {message}"):
            env.env_float("MAX_ABS_DAILY_RETURN", 0.5, above=0)


def test_the_daily_return_bound_defaults_to_half():
    from django.conf import settings

    assert settings.MAX_ABS_DAILY_RETURN == 0.5


def test_env_list(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example.com, b.example.com ,")
    assert env.env_list("ALLOWED_HOSTS", []) == ["a.example.com", "b.example.com"]
    monkeypatch.setenv("ALLOWED_HOSTS", " , ")
    with pytest.raises(ImproperlyConfigured, match="^ALLOWED_HOSTS"):
        env.env_list("ALLOWED_HOSTS", ["x"])


def test_required_list_names_the_variable(monkeypatch):
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    with pytest.raises(ImproperlyConfigured, match="^ALLOWED_HOSTS: this environment variable is required"):
        env.env_list("ALLOWED_HOSTS", [], required=True)
    monkeypatch.setenv("ALLOWED_HOSTS", "cae.example.com")
    assert env.env_list("ALLOWED_HOSTS", [], required=True) == ["cae.example.com"]


def test_required_string_names_the_variable(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(ImproperlyConfigured, match="^SECRET_KEY: .*required"):
        env.env_str("SECRET_KEY", required=True)
    assert env.env_str("SECRET_KEY", "fallback") == "fallback"


def test_database_default_is_sqlite_under_var(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env.env_database()
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(config["NAME"]) == ROOT / "var" / "db.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_database_postgres_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://alice:pw@db.example.com:6543/cae")
    config = env.env_database()
    assert config["ENGINE"] == "capital_allocation.postgresql"  # Django's, its health check once a second
    assert (config["NAME"], config["USER"], config["HOST"], config["PORT"]) == (
        "cae",
        "alice",
        "db.example.com",
        6543,
    )
    # psycopg prepares only the statements a cursor asks for (the backend's prepared_cursor)
    assert config["OPTIONS"]["prepare_threshold"] == env.PREPARE_ONLY_WHEN_ASKED


def test_prepared_statements_can_be_turned_off_for_a_pooler(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://alice:pw@db.example.com:6543/cae")
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
    assert "prepare_threshold" not in env.env_database()["OPTIONS"]  # Django's default: none prepared


@pytest.mark.parametrize("raw", ["mysqlx://u@h/db", "mysql://u@h/db", "localhost:5432/db", "http://x"])
def test_unsupported_database_url_names_database_url(monkeypatch, raw):
    monkeypatch.setenv("DATABASE_URL", raw)
    with pytest.raises(ImproperlyConfigured, match="^DATABASE_URL: unsupported scheme"):
        env.env_database()


def test_broker_default_is_an_embedded_filesystem_broker(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    url, options = env.env_broker()
    assert url == "filesystem://"
    queue = Path(options["data_folder_in"])
    assert queue == Path(options["data_folder_out"])
    assert queue.parent.parent == ROOT / "var" / "broker" and queue.name == "queue"
    assert queue.is_dir()


def test_each_database_has_its_own_embedded_broker_folder(monkeypatch):
    """`make run` (var/db.sqlite3) and `make serve` (var/serve.sqlite3) in one checkout: serve's worker
    must never take run's tasks; two processes on one database share one folder."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    def folder(url):
        monkeypatch.setenv("DATABASE_URL", url)
        return Path(env.env_broker(database=env.env_database())[1]["data_folder_in"]).parent

    run = folder(f"sqlite:///{ROOT / 'var' / 'db.sqlite3'}")
    serve = folder(f"sqlite:///{ROOT / 'var' / 'serve.sqlite3'}")
    assert run != serve and run.name.startswith("db-") and serve.name.startswith("serve-")
    assert folder(f"sqlite:///{ROOT / 'var' / 'db.sqlite3'}") == run
    assert folder("postgres://u@db.example.com:5432/cae") != folder("postgres://u@db.example.com:5432/cae_restored")
    assert folder("postgres://u@db.example.com:5432/cae") != folder("postgres://u@other.example.com:5432/cae")


def test_redis_broker_url_passes_through(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://cache.example.com:6380/2")
    assert env.env_broker() == ("redis://cache.example.com:6380/2", {})


@pytest.mark.parametrize("raw", ["kafka://h:9092", "127.0.0.1:6379", "http://h"])
def test_bad_broker_url_names_celery_broker_url(monkeypatch, raw):
    monkeypatch.setenv("CELERY_BROKER_URL", raw)
    with pytest.raises(ImproperlyConfigured, match="^CELERY_BROKER_URL: unsupported scheme"):
        env.env_broker()


# --- the settings modules in a real process ---------------------------------------------------------


_NOT_INHERITED = {"SECRET_KEY", "AUDIT_HMAC_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def _manage(*args, **environ):
    base = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    base.pop("CELERY_BROKER_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_check(*args, **environ) -> subprocess.CompletedProcess:
    """``manage.py check *args`` under the production settings, serving cae.example.com, in a fresh process."""
    return _manage(
        "check",
        *args,
        DJANGO_SETTINGS_MODULE="capital_allocation.settings.production",
        ALLOWED_HOSTS="cae.example.com",
        **environ,
    )


def _good_secret() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + "!@#%^&*(-_=+)") for _ in range(64))


@pytest.mark.slow
def test_base_settings_with_bad_debug_stop_naming_debug():
    result = _manage("check", DJANGO_SETTINGS_MODULE="capital_allocation.settings.base", DEBUG="sometimes")
    assert result.returncode != 0
    assert "DEBUG: expected a boolean" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("DATABASE_URL", "mysqlx://u@h/db", "DATABASE_URL: unsupported scheme 'mysqlx'"),
        ("CELERY_BROKER_URL", "kafka://h:9092", "CELERY_BROKER_URL: unsupported scheme 'kafka'"),
        ("HEALTH_BROKER_TIMEOUT", "soon", "HEALTH_BROKER_TIMEOUT: expected a number"),
        ("MAX_ABS_DAILY_RETURN", "lots", "MAX_ABS_DAILY_RETURN: expected a number"),
    ],
)
def test_bad_urls_stop_start_up_naming_the_variable(variable, value, message):
    result = _manage("check", DJANGO_SETTINGS_MODULE="capital_allocation.settings.base", **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_production_without_secret_key_stops_naming_it():
    result = _production_check()
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


@pytest.mark.slow
def test_production_with_a_weak_secret_key_stops_naming_it():
    result = _production_check(SECRET_KEY="short")
    assert result.returncode != 0
    assert "SECRET_KEY: must be at least 50 characters" in result.stderr


@pytest.mark.slow
def test_production_settings_pass_the_deploy_check_without_warnings():
    result = _production_check(
        "--deploy", "--fail-level", "WARNING", SECRET_KEY=_good_secret(), AUDIT_HMAC_KEY=_good_secret()
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def _setting(module: str, expression: str, **environ) -> subprocess.CompletedProcess:
    """``expression`` evaluated on ``django.conf.settings`` under ``module``, in a fresh process."""
    code = f"import django; django.setup(); from django.conf import settings; print(repr({expression}))"
    base = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    base.pop("CELERY_BROKER_URL", None)
    base.pop("TRUSTED_PROXY_COUNT", None)
    production = (
        {"SECRET_KEY": _good_secret(), "AUDIT_HMAC_KEY": _good_secret(), "ALLOWED_HOSTS": "cae.example.com"}
        if "production" in module
        else {}
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **production, "DJANGO_SETTINGS_MODULE": module, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


SETTINGS_MODULES = [
    "capital_allocation.settings.base",
    "capital_allocation.settings.test",
    "capital_allocation.settings.production",
]


@pytest.mark.slow
@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_no_proxy_is_trusted_by_default(module):
    result = _setting(module, 'settings.REST_FRAMEWORK["NUM_PROXIES"]')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


@pytest.mark.slow
@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_trusted_proxy_count_sets_num_proxies(module):
    result = _setting(module, 'settings.REST_FRAMEWORK["NUM_PROXIES"]', TRUSTED_PROXY_COUNT="2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


@pytest.mark.slow
@pytest.mark.parametrize("raw", ["-1", "one"])
def test_bad_trusted_proxy_count_names_it(raw):
    result = _setting("capital_allocation.settings.base", "settings.DEBUG", TRUSTED_PROXY_COUNT=raw)
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT: " in result.stderr


# --- debug off unless asked for; servers default to production ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_debug_is_off_by_default(module):
    result = _setting(module, "settings.DEBUG")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.slow
def test_debug_true_turns_it_on_for_local_use():
    result = _setting("capital_allocation.settings.base", "settings.DEBUG", DEBUG="true")
    assert result.stdout.strip() == "True", result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "entry_point",
    [
        "import capital_allocation.wsgi",
        "import capital_allocation.asgi",
        "from capital_allocation.celery import app; app.loader.import_default_modules()",
    ],
)
def test_servers_and_the_celery_app_default_to_the_production_settings(entry_point):
    """As cookiecutter-django does: only ``manage.py`` and ``make run`` pick the local settings."""
    environ = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "DATABASE_URL"}}
    environ.pop("CELERY_BROKER_URL", None)
    code = f"{entry_point}; from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **environ,
            "SECRET_KEY": _good_secret(),
            "AUDIT_HMAC_KEY": _good_secret(),
            "ALLOWED_HOSTS": "cae.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["capital_allocation.settings.production", "False"]


@pytest.mark.slow
def test_production_without_allowed_hosts_stops_naming_it():
    result = _manage(
        "check", DJANGO_SETTINGS_MODULE="capital_allocation.settings.production", SECRET_KEY=_good_secret()
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS: this environment variable is required" in result.stderr


# --- `make run` and the Procfile run the local settings -------------------------------------------


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _as_a_quick_command(command: str) -> str:
    """The Procfile command with its long-running part swapped for one that loads the settings and exits."""
    command = re.sub(r"manage\.py runserver .*$", "manage.py check", command)
    return re.sub(r" (worker|beat) .*$", " report", command)


def test_the_procfile_names_web_worker_and_beat():
    assert set(_procfile()) == {"web", "worker", "beat"}


@pytest.mark.slow
@pytest.mark.parametrize("process", ["web", "worker", "beat"])
def test_each_procfile_process_starts_on_the_local_settings(process):
    """Nothing set but what ``make run`` sets (DEBUG): no SECRET_KEY, no DJANGO_SETTINGS_MODULE."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"}
    }
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    result = subprocess.run(
        ["sh", "-c", _as_a_quick_command(_procfile()[process])],
        cwd=ROOT,
        env={**environ, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    if process != "web":  # Celery's report lists the Django settings it loaded
        assert "SETTINGS_MODULE: 'capital_allocation.settings.base'" in result.stdout.splitlines()
        assert "DEBUG: True" in result.stdout.splitlines()


def test_make_run_sets_the_local_settings_and_debug_for_every_command():
    result = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    recipe = result.stdout
    assert 'DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-capital_allocation.settings.base}"' in recipe
    assert "export DJANGO_SETTINGS_MODULE" in recipe
    assert 'DEBUG="${DEBUG:-true}"' in recipe
    export_at = recipe.index("export DJANGO_SETTINGS_MODULE")
    for command in ("manage.py migrate", "manage.py seed_demo", "honcho"):
        assert recipe.index(command) > export_at, command
