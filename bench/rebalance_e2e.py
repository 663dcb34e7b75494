"""End-to-end rebalance benchmark: POST .../allocation/rebalance over HTTP, everything persisted.

Seeds (once) the portfolio ``big``: 1,000 strategies with 252 days of returns, as
``manage.py seed_demo --portfolio big --strategies 1000 --days 252``; raises its approval
threshold so every run is applied at once (the heaviest path: run, 1,000 lines, schedule,
step 1 moving up to 1,000 funds, one audit row per move); starts the web server; then times
``--runs`` POST rebalance requests from a client on the same machine and prints the median.

Usage (PostgreSQL is what the target is about):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cae_bench python bench/rebalance_e2e.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def call(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def prepare(python: str, env: dict) -> None:
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [python, "manage.py", "seed_demo", "--portfolio", "big", "--strategies", "1000", "--days", "252"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    code = (
        "import django; django.setup();"
        "from allocations.models import Portfolio;"
        "from allocations.services.actors import Actor;"
        "from allocations.services.policies import policy_create_version;"
        "policy_create_version(portfolio=Portfolio.objects.get(slug='big'), actor=Actor.command('bench'),"
        " reason='benchmark: apply every run at once', changes={'approval_threshold': 2.0})"
    )
    subprocess.run([python, "-c", code], cwd=ROOT, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--allow-sqlite", action="store_true", help="run even without a PostgreSQL DATABASE_URL")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.base",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    if not env.get("DATABASE_URL", "").startswith("postgres") and not args.allow_sqlite:
        sys.exit("set DATABASE_URL to a PostgreSQL database (or pass --allow-sqlite)")
    python = sys.executable
    prepare(python, env)
    server = subprocess.Popen(
        [python, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload", "--nothreading"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                if call("GET", base + "/health/")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        password = os.environ.get("DEMO_PASSWORD", "demo")
        status, body = call("POST", base + "/api/v1/auth/token/", {"username": "admin", "password": password})
        assert status == 200, (status, body)
        token = body["token"]
        url = base + "/api/v1/portfolios/big/allocation/rebalance"
        methods = ["risk_parity", "hybrid", "inverse_volatility", "momentum", "equal_weight"]
        timings, statuses = [], []
        call("POST", url, {"total_equity": 1e7, "dry_run": True}, token)  # warm-up: imports, caches
        for i in range(args.runs):
            payload = {"total_equity": 10_000_000 + i, "allocation_method": methods[i % len(methods)]}
            start = time.perf_counter()
            status, body = call("POST", url, payload, token)
            timings.append(time.perf_counter() - start)
            statuses.append((status, body.get("status") if isinstance(body, dict) else body))
        ok = all(s in (200, 201) for s, _ in statuses)
        database = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
        print(
            f"POST /api/v1/portfolios/big/allocation/rebalance — 1,000 strategies x 252 days, {database}, "
            f"{args.runs} runs, every run applied and audited"
        )
        print(f"  statuses: {sorted(set(statuses))}")
        ms = sorted(t * 1000 for t in timings)
        print(
            f"  median {statistics.median(ms):.0f} ms   min {ms[0]:.0f} ms   "
            f"p90 {ms[int(0.9 * (len(ms) - 1))]:.0f} ms   max {ms[-1]:.0f} ms"
        )
        if not ok:
            sys.exit("some requests failed")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
