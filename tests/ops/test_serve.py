"""The production server as `make serve` and the image start it: granian with deploy/web.py, the production
settings, whitenoise's compressed hashed files, /metrics added up over the worker processes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, **headers) -> tuple[int, Message, bytes]:
    """Status, headers (looked up whatever their case: granian sends them in lower case) and body."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def workers_of(pid: int) -> set[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


@pytest.fixture
def production_env(tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "PROMETHEUS"))},
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_HMAC_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }


def test_the_server_serves_static_files_health_and_metrics_over_two_workers(production_env, tmp_path):
    env = production_env
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert collect.returncode == 0, collect.stderr
    manifest = json.loads((ROOT / "var" / "staticfiles" / "staticfiles.json").read_text())["paths"]

    port = free_port()
    env["WEB_BIND"] = f"127.0.0.1:{port}"
    log = (tmp_path / "web.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "deploy/web.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, _ = get(f"{base}/health/")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.3)
        assert status in (200, 503)
        assert headers["X-Request-ID"]

        hashed = manifest["dashboard/dashboard.js"]
        assert hashed != "dashboard/dashboard.js"
        status, headers, body = get(f"{base}/static/{hashed}", **{"Accept-Encoding": "gzip"})
        assert status == 200 and headers.get("Content-Encoding") == "gzip"
        assert "immutable" in headers["Cache-Control"] and "max-age=315360000" in headers["Cache-Control"]

        for _ in range(20):
            assert get(f"{base}/health/", **{"X-Request-ID": "serve-test"})[0] in (200, 503)
        status, _, body = get(f"{base}/metrics")
        assert status == 200
        text = body.decode()
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("cae_http_request_duration_seconds_count") and 'view="health"' in line
        )
        assert counted == 21, text  # both workers' samples, added up
        assert get(f"{base}/metrics", **{"X-Forwarded-For": "127.0.0.1"})[0] == 200

        # HUP (the runbook's upgrade step) replaces the workers one by one; the server answers throughout
        before = workers_of(server.pid)
        assert len(before) == 2
        os.kill(server.pid, signal.SIGHUP)
        deadline, during_reload = time.monotonic() + 60, 0
        while True:
            assert get(f"{base}/health/")[0] in (200, 503)
            during_reload += 1
            now = workers_of(server.pid)
            if len(now) == 2 and not now & before:
                break
            assert time.monotonic() < deadline, f"workers not replaced: {before} -> {now}"
            time.sleep(0.2)
    finally:
        os.kill(server.pid, signal.SIGTERM)  # to the main process, as honcho and Docker send it
        server.wait(timeout=45)
    log.seek(0)
    lines = [json.loads(line) for line in log.read().splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "_granian" for line in lines)  # the server's own lines are JSON too
    served = [
        line for line in lines if line.get("logger") == "capital_allocation.request" and line["path"] == "/health/"
    ]
    assert len(served) == 21 + during_reload and sum(line["request_id"] == "serve-test" for line in served) == 20


# --- deploy/supervise.py: each process restarted alone ------------------------------------------------


def children_of(pid: int) -> dict[int, str]:
    """The direct children of ``pid`` and their command lines."""
    found = {}
    for child in workers_of(pid):
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            pass
    return found


def wait_for(predicate, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_supervise_restarts_the_process_that_died_with_backoff_and_leaves_the_others(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("steady: sleep 600\ncrash: sleep 0.3; exit 3\n# a comment\nunused: sleep 600\n")
    log = (tmp_path / "supervise.log").open("w+")
    env = {**os.environ, "SERVE_RESTART_MAX_DELAY": "2"}
    supervisor = subprocess.Popen(
        [sys.executable, "deploy/supervise.py", str(procfile), "steady,crash"],
        cwd=ROOT,
        env=env,
        stderr=log,
        start_new_session=True,
    )
    try:
        steady = wait_for(
            lambda: [p for p, cmd in children_of(supervisor.pid).items() if "600" in cmd],
            seconds=10,
            what="steady did not start",
        )
        time.sleep(4.5)  # crash runs 0.3 s then waits 1, 2, 2 ... s: two or three restarts
        assert [p for p, cmd in children_of(supervisor.pid).items() if "600" in cmd] == steady  # never restarted
        assert supervisor.poll() is None
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=20) == 0
    assert not alive(steady[0])
    log.seek(0)
    lines = [json.loads(line) for line in log.read().splitlines()]
    restarts = [line for line in lines if "crash exited (status 3)" in line["message"]]
    assert 2 <= len(restarts) <= 4, lines
    assert [line["message"].rsplit("restart in ", 1)[1] for line in restarts[:2]] == ["1 s", "2 s"]
    assert not any(line.get("process") in ("steady", "unused") and "exited" in line["message"] for line in lines)
    assert not any(line.get("process") == "unused" for line in lines)  # not chosen, never started


def test_supervise_refuses_an_unknown_process_naming_the_known_ones(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: sleep 1\nworker: sleep 1\n")
    done = subprocess.run(
        [sys.executable, "deploy/supervise.py", str(procfile), "web", "wroker"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "unknown process wroker; the Procfile has web, worker" in done.stderr


def test_make_serve_restarts_a_killed_worker_while_web_keeps_answering(production_env, tmp_path):
    """The worker dies (killed as the OOM killer would, or by a broker it cannot ride out): it alone is
    started again; web keeps its process and answers throughout; TERM stops everything."""
    from capital_allocation.env import broker_folder

    env = dict(production_env)
    port = free_port()
    env.update(
        WEB_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="1",
        SERVE_PROCESSES="web worker",
        PY=sys.executable,
    )
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    log = (tmp_path / "serve.log").open("w+")
    serve = subprocess.Popen(
        ["bash", "deploy/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return get(f"{base}/health/")[0] in (200, 503)
        except OSError:
            return False

    def process(word: str) -> list[int]:
        return [pid for pid, cmd in children_of(serve.pid).items() if word in cmd]

    try:
        wait_for(answers, seconds=180, what="make serve did not answer")
        web = process("deploy/web.py")
        (worker,) = wait_for(lambda: process("worker"), seconds=30, what="no worker")
        assert len(web) == 1
        time.sleep(2)  # the worker is up, not only started
        os.killpg(worker, signal.SIGKILL)
        restarted = wait_for(
            lambda: [pid for pid in process("worker") if pid != worker] if answers() else None,
            seconds=30,
            what="the worker was not restarted, or web stopped answering",
        )
        time.sleep(3)
        assert process("deploy/web.py") == web and process("worker") == restarted and answers()
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=90)
        shutil.rmtree(broker_folder({"ENGINE": "django.db.backends.sqlite3", "NAME": database}), ignore_errors=True)
    assert code == 0
    assert not alive(web[0]) and not alive(restarted[0])
    log.seek(0)
    assert "worker exited (signal SIGKILL)" in log.read()
