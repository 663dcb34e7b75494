"""Load on the production server (PostgreSQL, Redis): reads of a 100-strategy portfolio under rebalances.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cae_bench_load CELERY_BROKER_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/load.py --duration 30

On its own database (dropped and created unless ``--reuse``): seeds, starts two web processes and two
workers, reads ``/allocation/current`` from ``--clients`` readers while rebalancing another portfolio,
then prints requests/s, latency percentiles and errors and checks that nothing was applied twice and
that ``verify_audit`` passes (targets: ARCHITECTURE.md section 8). The steps in full: bench/README.md,
*Load*. Every request goes to 127.0.0.1; every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from measure import cpu_seconds, group_pids, percentile
from readers import Readers

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
READ_PATH = "/api/v1/portfolios/demo/allocation/current"
REBALANCE_PATH = "/api/v1/portfolios/load-b/allocation/rebalance"
APP_ROLE = "cae_bench_app"


def sh(*command: str, env: dict, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=quiet, text=True, timeout=900)
    if check and result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result


def psql(sql: str, *, env: dict) -> str:
    return sh("psql", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, env=env).stdout.strip()


def request(port: int, method: str, path: str, *, token: str, body: dict | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Token {token}", "Accept": "application/json", "Host": "127.0.0.1"}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def login(port: int, username: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": username, "password": password})
    conn.request("POST", "/api/v1/auth/token/", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit(f"login {username}: {response.status} {data[:200]!r}")
    return json.loads(data)["token"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--client-processes",
        type=int,
        default=4,
        help="processes the clients are spread over (default 4; 1: every client a thread of one process)",
    )
    parser.add_argument("--rebalance-every", type=float, default=3.0)
    parser.add_argument("--web", type=int, default=2, help="web processes (deploy/web.py servers)")
    parser.add_argument("--web-concurrency", type=int, default=1, help="worker processes per web server")
    parser.add_argument(
        "--web-threads", type=int, default=None, help="application threads per worker (default: deploy/web.py's)"
    )
    parser.add_argument(
        "--keep-alive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the readers keep their connections open between requests (default: yes)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--port", type=int, default=8310)
    parser.add_argument("--reuse", action="store_true", help="keep the database from a previous run")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("DATABASE_URL must name a PostgreSQL database of its own (it is dropped and created)")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
    parts = urlsplit(database_url)
    database, owner = parts.path.lstrip("/"), parts.username or "postgres"
    pg = {
        **os.environ,
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": owner,
        "PGDATABASE": database,
    }
    if parts.password:
        pg["PGPASSWORD"] = parts.password
    audit_key_file = ROOT / "var" / "bench-load-audit-key"
    audit_key_file.parent.mkdir(exist_ok=True)
    if not audit_key_file.exists() or not args.reuse:
        audit_key_file.write_text(secrets.token_urlsafe(40))
    metrics_dir = tempfile.mkdtemp(prefix="cae-load-metrics-")
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "capital_allocation.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_HMAC_KEY": audit_key_file.read_text(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "CELERY_BROKER_URL": broker,
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),  # production's: one JSON line per request
        "API_WRITE_RATE": "10000/min",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    owner_env = {**base_env, "DATABASE_URL": database_url}
    service_url = f"postgres://{APP_ROLE}@{pg['PGHOST']}:{pg['PGPORT']}/{database}"
    service_env = {**base_env, "DATABASE_URL": service_url}
    python = sys.executable

    started = time.monotonic()
    if not args.reuse:
        print(f"creating {database} and seeding (100 + 100 strategies x 252 days) ...", flush=True)
        sh("dropdb", "--force", "--if-exists", database, env={**pg, "PGDATABASE": "postgres"})
        sh("createdb", database, env={**pg, "PGDATABASE": "postgres"})
        sh(python, "manage.py", "migrate", "--noinput", env=owner_env)
        seed = ["--strategies", "100", "--days", "252", "--history-days", "0"]
        sh(python, "manage.py", "seed_demo", *seed, env=owner_env)
        sh(python, "manage.py", "seed_demo", "--portfolio", "load-b", *seed, "--seed", "8", env=owner_env)
        psql(
            "UPDATE allocations_allocationpolicy SET approval_threshold = 2.0 WHERE portfolio_id = "
            "(SELECT id FROM allocations_portfolio WHERE slug = 'load-b')",
            env=pg,
        )
    sh("psql", "-q", "-v", f"app_role={APP_ROLE}", "-f", "deploy/service_role.sql", env=pg)
    load_b = int(psql("SELECT id FROM allocations_portfolio WHERE slug = 'load-b'", env=pg))
    print(f"database ready in {time.monotonic() - started:.0f} s", flush=True)

    processes: list[subprocess.Popen] = []
    logs_dir = Path(tempfile.mkdtemp(prefix="cae-load-logs-"))

    def spawn(name: str, command: list[str], env: dict) -> None:
        log = (logs_dir / f"{name}.log").open("w")
        processes.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    ports = [args.port + i for i in range(args.web)]
    try:
        sh(str(BIN / "celery"), "-A", "capital_allocation", "purge", "-f", env=service_env, check=False)
        for i, port in enumerate(ports):
            web_env = {**service_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.web_concurrency)}
            if args.web_threads is not None:
                web_env["WEB_THREADS"] = str(args.web_threads)
            spawn(f"web{i + 1}", [python, "deploy/web.py"], web_env)
        for i in range(args.workers):
            worker = [str(BIN / "celery"), "-A", "capital_allocation", "worker", "--concurrency=1"]
            spawn(f"worker{i + 1}", [*worker, "-n", f"load{i + 1}@%h", "--loglevel=WARNING"], service_env)
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/health/", headers={"Host": "127.0.0.1"})
                    conn.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit(f"web process on {port} did not start; see {logs_dir}")
                    time.sleep(0.3)
        reader_token = login(ports[0], "integration", os.environ.get("DEMO_PASSWORD", "demo"))
        admin_token = login(ports[-1], "admin", os.environ.get("DEMO_PASSWORD", "demo"))
        status, body = request(ports[0], "GET", READ_PATH, token=reader_token)
        if status != 200:
            sys.exit(f"GET {READ_PATH}: {status} {body[:300]!r}")
        strategies = len(json.loads(body)["allocation"])

        from celery import Celery

        sender = Celery("load", broker=broker)
        stop = threading.Event()
        read_headers = {"Authorization": f"Token {reader_token}", "Accept": "application/json", "Host": "127.0.0.1"}
        readers = Readers(
            ports=ports,
            path=READ_PATH,
            headers=read_headers,
            clients=args.clients,
            processes=args.client_processes,
            keep_alive=args.keep_alive,
        )

        rebalances: list[tuple[float, int]] = []
        idempotent: list[set] = []

        def post(answers: list, i: int, port: int, key: str, body: dict) -> None:
            t0 = time.perf_counter()
            status, data = request(
                port, "POST", REBALANCE_PATH, token=admin_token, body=body, headers={"Idempotency-Key": key}
            )
            answers[i] = (time.perf_counter() - t0, status, data)

        def rebalancer() -> None:
            cycle = 0
            methods = ["risk_parity", "inverse_volatility", "equal_weight", "hybrid"]
            while not stop.wait(args.rebalance_every if cycle else 0.5):
                cycle += 1
                key = f"load-{uuid.uuid4().hex}"
                body = {"allocation_method": methods[cycle % len(methods)], "force_rebalance": True}
                answers: list = [None] * len(ports)

                posts = [threading.Thread(target=post, args=(answers, i, p, key, body)) for i, p in enumerate(ports)]
                for t in posts:
                    t.start()
                for t in posts:
                    t.join()
                ids = set()
                for elapsed, status, data in answers:
                    rebalances.append((elapsed, status))
                    if status in (200, 201):
                        ids.add(json.loads(data).get("allocation_id"))
                idempotent.append(ids)
                # the scheduled rebalance of today and the sweeps, to both workers, several times
                for _ in range(2):
                    sender.send_task("allocations.rebalance_portfolio", args=(load_b, date.today().isoformat()))
                    sender.send_task("allocations.apply_due_transition_steps")
                sender.send_task("allocations.rebalance_all_portfolios")

        print(
            f"load: {args.clients} clients x {args.duration:.0f} s on {args.web} web process(es) x "
            f"{args.web_concurrency} worker(s) x {args.web_threads or 'default'} thread(s), "
            f"{'keep-alive' if args.keep_alive else 'a connection per request'}, the clients in "
            f"{args.client_processes} process(es), {args.workers} Celery workers ...",
            flush=True,
        )
        threads = [threading.Thread(target=rebalancer)]
        web_pids = group_pids({processes[i].pid for i in range(len(ports))})
        backends_sql = f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND usename = '{APP_ROLE}'"
        cpu_before = cpu_seconds(web_pids), time.process_time()
        t_start = time.perf_counter()
        readers.start()
        for t in threads:
            t.start()
        time.sleep(args.duration)
        db_pids = {int(p) for p in psql(backends_sql, env=pg).split()}
        stop.set()
        latencies, errors, cpu_readers = readers.stop()
        wall = time.perf_counter() - t_start
        for t in threads:
            t.join(timeout=60)
        cpu_web = cpu_seconds(web_pids) - cpu_before[0]
        cpu_client = time.process_time() - cpu_before[1] + cpu_readers
        cpu_db = cpu_seconds(db_pids)  # the service's backends (web and workers), from their start
        load_average = os.getloadavg()

        # every pending step of load-b due now, and the sweep sent to both workers at once
        psql(
            "UPDATE allocations_transitionstep SET due_date = CURRENT_DATE - 1 WHERE status = 'pending' AND "
            f"schedule_id IN (SELECT id FROM allocations_transitionschedule WHERE portfolio_id = {load_b})",
            env=pg,
        )
        for _ in range(6):
            sender.send_task("allocations.apply_due_transition_steps")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = int(
                psql(
                    "SELECT count(*) FROM allocations_transitionstep s JOIN allocations_transitionschedule c "
                    f"ON c.id = s.schedule_id WHERE c.portfolio_id = {load_b} AND s.status = 'pending' "
                    "AND s.due_date <= CURRENT_DATE",
                    env=pg,
                )
            )
            if pending == 0:
                break
            time.sleep(1)
        time.sleep(3)  # the duplicate sweeps still in flight find nothing left
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    twice = {
        "steps applied twice": "SELECT count(*) FROM (SELECT step_id FROM allocations_auditentry WHERE kind = "
        "'step_applied' GROUP BY step_id HAVING count(*) > 1) d",
        "step events twice": "SELECT count(*) FROM (SELECT step_id FROM allocations_outboxevent WHERE step_id IS "
        "NOT NULL GROUP BY step_id HAVING count(*) > 1) d",
        "scheduled runs twice": "SELECT count(*) FROM (SELECT portfolio_id, run_date FROM allocations_allocationrun "
        "WHERE trigger = 'schedule' GROUP BY 1, 2 HAVING count(*) > 1) d",
        "idempotent runs twice": "SELECT count(*) FROM (SELECT requested_by_id, idempotency_key FROM "
        "allocations_allocationrun WHERE idempotency_key IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d",
    }
    found = {name: int(psql(sql, env=pg)) for name, sql in twice.items()}
    applied_steps = int(
        psql(
            "SELECT count(*) FROM allocations_transitionstep s JOIN allocations_transitionschedule c ON "
            f"c.id = s.schedule_id WHERE c.portfolio_id = {load_b} AND s.status = 'applied'",
            env=pg,
        )
    )
    scheduled = int(
        psql(
            f"SELECT count(*) FROM allocations_allocationrun WHERE trigger = 'schedule' AND portfolio_id = {load_b}",
            env=pg,
        )
    )
    verify = sh(python, "manage.py", "verify_audit", env=service_env, check=False)
    served = []  # (duration_ms, cpu_ms) of each read, from the request lines of the web processes
    for log_file in logs_dir.glob("web*.log"):
        for line in log_file.read_text().splitlines():
            if 'allocation-current"' in line and line.startswith("{"):
                entry = json.loads(line)
                served.append((entry["duration_ms"], entry.get("cpu_ms", 0.0)))

    ok = [s for s in rebalances if s[1] in (200, 201)]
    split_answers = sum(1 for ids in idempotent if len(ids) > 1)
    ms = [x * 1000 for x in latencies]
    print()
    print(f"GET {READ_PATH} ({strategies} strategies), {len(ms)} requests in {wall:.1f} s")
    print(f"  requests/s      {len(ms) / wall:8.1f}   (target >= 300)")
    if ms:
        p50, p95, p99 = (percentile(ms, q) for q in (0.5, 0.95, 0.99))
        print(
            f"  p50 / p95 / p99 {p50:6.1f} / {p95:6.1f} / {p99:6.1f} ms   (target p99 < 100 ms); max {max(ms):.1f} ms"
        )
    print(f"  errors          {len(errors):8d}   {sorted(set(errors))[:3] if errors else ''}")
    if served:
        cpu_read = statistics.median(c for _, c in served)
        print(
            f"  in the server   median {statistics.median(d for d, _ in served):.1f} ms wall, {cpu_read:.2f} ms CPU "
            f"of the web process per read: {1000 / cpu_read * os.cpu_count():.0f} reads/s if the web processes "
            f"had every core"
        )
    if ms:
        print(
            f"  CPU per request: web processes {cpu_web / len(ms) * 1000:.2f} ms, load client "
            f"{cpu_client / len(ms) * 1000:.2f} ms; PostgreSQL backends of the service {cpu_db:.1f} s in all "
            f"({cpu_db / len(ms) * 1000:.2f} ms per read, rebalances included); load average during the run "
            f"{load_average[0]:.1f} on {os.cpu_count()} cores"
        )
    rebalance_ms = [e * 1000 for e, _ in ok]
    busy = sum(1 for _, status in rebalances if status == 409)
    median_ms = statistics.median(rebalance_ms) if rebalance_ms else 0.0
    print(
        f"rebalances of load-b: {len(rebalances)} POSTs ({len(idempotent)} keys sent to both web processes), "
        f"{len(ok)} answered 2xx, {busy} 409 (same key still running), median {median_ms:.0f} ms; "
        f"keys answered with two different runs: {split_answers}"
    )
    print(f"steps applied: {applied_steps}; scheduled runs of load-b: {scheduled}")
    for name, count in found.items():
        print(f"  {name:22s} {count}")
    said = verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()[-300:]
    print(f"verify_audit: exit {verify.returncode}: {said}")
    print(f"server logs: {logs_dir}")
    failed = (
        errors
        or any(found.values())
        or split_answers
        or verify.returncode != 0
        or any(s[1] not in (200, 201, 409) for s in rebalances)
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
