"""End-to-end rebalance benchmark: POST .../allocation/rebalance over HTTP, everything persisted.

Seeds (once) the portfolio ``big`` (``big<N>`` for ``--strategies N`` other than 1,000): N
strategies with 252 days of returns, as ``manage.py seed_demo --portfolio big --strategies N
--days 252 --history-days 0``; builds its returns snapshot (``manage.py returns_snapshot``, where
the command exists); raises its approval threshold so every run is applied at once (the heaviest
path: run, N lines, schedule, step 1 moving up to N funds, one audit row per move); vacuums the tables a
rebalance writes (``support.vacuum``: what autovacuum does on a production server); starts the web
server; then times ``--runs`` POST rebalance requests from a client on the same machine and prints
the median, the server's peak RSS and the service's phase table (medians of the phase timings each
run records, ``AllocationRun.phase_timings_ms``; a dry run answers them in its explanation).

Usage (PostgreSQL is what the target is about):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cae_bench python bench/rebalance_e2e.py --strategies 1000
    DATABASE_URL=... python bench/rebalance_e2e.py --strategies 10000 --runs 7
    DATABASE_URL=... python bench/rebalance_e2e.py --strategies 1000 --dry-run
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support import ROOT, database_label, django_env, migrate, quiet_server, vacuum, wait_for

sys.path.insert(0, str(ROOT))


def call(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict, int]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return response.status, json.loads(raw or b"null"), len(raw)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw or b"null"), len(raw)


def prepare(python: str, env: dict, slug: str, strategies: int) -> None:
    migrate(python, env)
    seed = ["manage.py", "seed_demo", "--portfolio", slug, "--strategies", str(strategies), "--days", "252"]
    subprocess.run([python, *seed, "--history-days", "0"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    if (ROOT / "allocations/management/commands/returns_snapshot.py").exists():
        subprocess.run([python, "manage.py", "returns_snapshot", "--portfolio", slug], cwd=ROOT, env=env, check=True)
    code = (
        "import django; django.setup();"
        "from allocations.models import Portfolio;"
        "from allocations.services.actors import Actor;"
        "from allocations.services.policies import policy_create_version;"
        "from allocations.selectors.policies import policy_current;"
        f"p = Portfolio.objects.get(slug={slug!r});"
        "policy_current(portfolio=p).approval_threshold >= 2.0 or "
        "policy_create_version(portfolio=p, actor=Actor.command('bench'),"
        " reason='benchmark: apply every run at once', changes={'approval_threshold': 2.0})"
    )
    subprocess.run([python, "-c", code], cwd=ROOT, env=env, check=True)
    vacuum(python, env)


def stored_phases(allocation_ids: list[str]) -> list[dict]:
    """The phase timings the service recorded in each run (none before the service recorded them)."""
    import django

    django.setup()
    from allocations.models import AllocationRun

    if not any(f.name == "phase_timings_ms" for f in AllocationRun._meta.get_fields()):
        return []
    return list(AllocationRun.objects.filter(public_id__in=allocation_ids).values_list("phase_timings_ms", flat=True))


PHASES = [  # the service's order (stored as JSONB, which sorts keys its own way)
    "lock_and_replay",
    "inputs",
    "returns_panel",
    "engine",
    "decide",
    "run_row",
    "lines",
    "run_audit",
    "schedule_and_steps",
    "funds",
    "funds_audit",
    "step_1_and_outbox",
    "answer",
    "commit",
    "total",
]


def phase_table(phases: list[dict]) -> None:
    phases = [p for p in phases if p]
    if not phases:
        print("  (no phase timings recorded by this version of the service)")
        return
    seen = {name for p in phases for name in p}
    names = [n for n in PHASES if n in seen] + sorted(seen - set(PHASES))
    print(f"  phases (ms, median of {len(phases)}):")
    for name in names:
        values = [p[name] for p in phases if name in p]
        print(f"    {name:<28} {statistics.median(values):8.1f}")


def free_port() -> int:
    """A port nothing listens on now (another server on a fixed port once answered in our place)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def server_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--dry-run", action="store_true", help="time dry runs (compute and answer, write nothing)")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--allow-sqlite", action="store_true", help="run even without a PostgreSQL DATABASE_URL")
    args = parser.parse_args()
    env = django_env(args.allow_sqlite, LOG_LEVEL="WARNING")
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DEBUG", "LOG_LEVEL")})
    slug = "big" if args.strategies == 1000 else f"big{args.strategies}"
    python = sys.executable
    prepare(python, env, slug, args.strategies)
    port = args.port or free_port()
    if not port_free(port):  # another process would answer in our server's place: its timings are not ours
        sys.exit(f"port {port} is taken; pass a free --port (or none: a free one is picked)")
    server = quiet_server([python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/health/")
        password = os.environ.get("DEMO_PASSWORD", "demo")
        status, body, _ = call("POST", base + "/api/v1/auth/token/", {"username": "admin", "password": password})
        assert status == 200, (status, body)
        token = body["token"]
        url = base + f"/api/v1/portfolios/{slug}/allocation/rebalance"
        methods = ["risk_parity", "hybrid", "inverse_volatility", "momentum", "equal_weight"]
        timings, statuses, sizes, ids, answered_phases = [], [], [], [], []
        call("POST", url, {"dry_run": True}, token)  # warm-up: imports, caches
        for i in range(args.runs):
            payload = {"allocation_method": methods[i % len(methods)], "dry_run": args.dry_run}
            start = time.perf_counter()
            status, body, size = call("POST", url, payload, token)
            timings.append(time.perf_counter() - start)
            sizes.append(size)
            statuses.append((status, body.get("status") if isinstance(body, dict) else body))
            if isinstance(body, dict):
                if body.get("allocation_id"):
                    ids.append(body["allocation_id"])
                answered_phases.append((body.get("explanation") or {}).get("phase_timings_ms") or {})
        ok = all(s in (200, 201) for s, _ in statuses)
        database = database_label(env)
        what = "dry runs (nothing written)" if args.dry_run else "every run applied and audited"
        print(
            f"POST /api/v1/portfolios/{slug}/allocation/rebalance — {args.strategies:,} strategies x 252 days, "
            f"{database}, {args.runs} runs, {what}"
        )
        print(f"  statuses: {sorted(set(statuses))}   answer {statistics.median(sizes) / 1024:.0f} KB")
        ms = sorted(t * 1000 for t in timings)
        print(
            f"  median {statistics.median(ms):.0f} ms   min {ms[0]:.0f} ms   "
            f"p90 {ms[int(0.9 * (len(ms) - 1))]:.0f} ms   max {ms[-1]:.0f} ms"
        )
        rss = server_rss_mb(server.pid)
        if rss is not None:
            print(f"  server peak RSS {rss:.0f} MB")
        phase_table(stored_phases(ids) if ids else answered_phases)
        if not ok:
            sys.exit("some requests failed")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
