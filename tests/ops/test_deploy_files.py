"""The Dockerfile and compose.yaml (not built here: no Docker engine) say what `make serve` and the tests run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
PROCFILE = dict(line.split(": ", 1) for line in (ROOT / "deploy" / "Procfile.serve").read_text().splitlines() if line)
WEB = "python deploy/web.py"  # as tests/ops/test_serve.py starts it


def command(service: str) -> str:
    cmd = COMPOSE["services"][service]["command"]
    text = " ".join(cmd) if isinstance(cmd, list) else cmd
    return text.removeprefix("sh -c ").replace("$${", "${")


def test_the_image_runs_the_tested_server_as_an_unprivileged_user_with_the_production_settings():
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1)
    assert " ".join(json.loads(cmd)) == WEB == PROCFILE["web"]
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "DJANGO_SETTINGS_MODULE=capital_allocation.settings.production" in DOCKERFILE
    assert "collectstatic" in DOCKERFILE and "npm ci" in DOCKERFILE and "pip install" in DOCKERFILE
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name


def test_compose_runs_web_worker_and_beat_as_make_serve_does_on_postgresql_and_redis():
    services = COMPOSE["services"]
    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(services)
    assert command("web") == PROCFILE["web"]
    assert command("worker") == PROCFILE["worker"]
    assert command("beat") == PROCFILE["beat"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://cae_app:"), "the service runs as the role owning no table"
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert env["DJANGO_SETTINGS_MODULE"] == "capital_allocation.settings.production"
    migrate = command("migrate")
    assert "manage.py migrate" in migrate and "deploy/service_role.sql" in migrate
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith("postgres://cae_owner:")


def test_every_variable_compose_sets_is_read_by_the_service():
    known = "\n".join(
        p.read_text() for p in [*(ROOT / "capital_allocation").rglob("*.py"), *(ROOT / "deploy").glob("*")]
    )
    readme = (ROOT / "README.md").read_text()
    names = set()
    for name in ("web", "worker", "beat"):
        names |= set(COMPOSE["services"][name]["environment"])
    for variable in names - {"DJANGO_SETTINGS_MODULE"}:
        assert re.search(rf'"{variable}"|{variable}', known), variable
        assert f"`{variable}`" in readme, f"{variable} is not in the README's table"
