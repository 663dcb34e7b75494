"""Benchmark of the allocation engine (not a test): scale, memory, and risk-parity solvers side by side.

    python bench/engine.py                 # full run (N up to 10,000; a few minutes with the cvxpy libraries)
    python bench/engine.py --quick         # N <= 1,000 and fewer repeats
    python bench/engine.py --engine-only   # the engine's own figures and targets (about a minute)

What it prints, and the figures measured here: bench/README.md, *Engine*. A library that is not
installed is reported as "not installed"; the rest still runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic import make_returns  # noqa: E402

from allocations.engine import (  # noqa: E402
    AllocationPolicy,
    SectorSignal,
    allocate,
    estimate_covariance,
    hrp_weights,
    ledoit_wolf,
    solve_risk_parity,
)
from tests.allocations.engine.skfolio_support import fixed_prior  # noqa: E402

#: Figures of this run checked against the targets at the end: name -> (measured, target, unit).
RESULTS: dict[str, tuple[float, float, str]] = {}


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def erc_error(cov: np.ndarray, w: np.ndarray) -> float:
    w = np.asarray(w, dtype=float).ravel()
    rc = w * (cov @ w)
    return float(np.abs(rc / rc.mean() - 1.0).max())


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = [
        f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} threads={i.get('num_threads')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return "; ".join(parts) or "unknown"


def scale_table(sizes, repeats: int) -> None:
    policy = AllocationPolicy()  # hybrid, the default covariance estimator, default limits
    print(
        f"\n## allocate(), all stages (hybrid, {policy.covariance_estimator}), median of",
        repeats,
        "runs; times in ms\n",
    )
    stages = ("validate", "estimate", "weights", "limits", "explain", "transition")
    header = ["N", "T", *stages, "total", "CPU", "peak traced MB", "peak RSS MB", "RP newton/CG", "RP error"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for n, t in sizes:
        returns, sectors = make_returns(n, t, seed=n + t)
        rng = np.random.default_rng(1)
        current = rng.dirichlet(np.ones(n)) * 0.95
        signals = [SectorSignal("sector-01", "BUY", 0.8), SectorSignal("sector-02", "SELL", 0.6)]

        def run(returns=returns, sectors=sectors, current=current, signals=signals):
            return allocate(returns, sectors, policy=policy, current_weights=current, signals=signals)

        run()  # warm-up
        per_stage = {s: [] for s in stages}
        totals, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            res = run()
            totals.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            for s in stages:
                per_stage[s].append(res.explanation["timings_ms"][s])
        tracemalloc.start()
        res = run()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux; process peak so far
        rp = res.explanation["risk_parity"]
        row = [f"{n:,}", str(t)]
        row += [f"{statistics.median(per_stage[s]):.2f}" for s in stages]
        row += [f"{statistics.median(totals) * 1e3:.1f}", f"{statistics.median(cpu) * 1e3:.1f}"]
        row += [f"{peak:.0f}", f"{rss:.0f}"]
        row += [
            f"{rp.get('newton_iterations', '-')}/{rp.get('cg_iterations', '-')}",
            f"{rp.get('error', float('nan')):.1e}",
        ]
        print("| " + " | ".join(row) + " |")
        if t == 252 and n in (1000, 10000):
            target = 10.0 if n == 1000 else 100.0
            RESULTS[f"allocate N = {n:,}, T = 252"] = (statistics.median(totals) * 1e3, target, "ms")


def budgets_table(repeats: int, n: int = 2000) -> None:
    print(f"\n## Risk budgets 1 : 100 against equal budgets, N = {n:,}, T = 252, factor form; median of", repeats)
    print()
    returns, _ = make_returns(n, 252, seed=n)
    cov = estimate_covariance(returns).covariance
    cases = {
        "equal": np.ones(n),
        "1 : 100 (halves)": np.where(np.arange(n) < n // 2, 1.0, 0.01),
        "1 : 100 (alternating)": np.where(np.arange(n) % 2 == 0, 1.0, 0.01),
    }
    print("| budgets | time ms | ratio to equal | Newton / CG | max_i abs(RC_i / b_i / sum RC - 1) |")
    print("|---|---|---|---|---|")
    base = None
    for label, b in cases.items():
        solve_risk_parity(cov, b)  # warm-up
        elapsed, sol = median_time(lambda b=b: solve_risk_parity(cov, b), max(repeats, 7))
        base = elapsed if base is None else base
        print(
            f"| {label} | {elapsed * 1e3:.2f} | {elapsed / base:.2f} | "
            f"{sol.newton_iterations} / {sol.cg_iterations} | {sol.error:.1e} |"
        )
        if label != "equal":
            RESULTS[f"budgets {label} / equal, N = {n:,}"] = (elapsed / base, 3.0, "x")


def hrp_table(repeats: int, n: int = 1000) -> None:
    print(f"\n## hrp, N = {n:,}, T = 252; median of", max(repeats, 7), "runs\n")
    returns, sectors = make_returns(n, 252, seed=n + 1)
    cov = estimate_covariance(returns).covariance
    hrp_weights(cov)  # warm-up (scipy imports)
    weights, _ = median_time(lambda: hrp_weights(cov), max(repeats, 7))
    policy = AllocationPolicy(method="hrp")
    allocate(returns, sectors, policy=policy)
    total, _ = median_time(lambda: allocate(returns, sectors, policy=policy), max(repeats, 7))
    print("| what | time ms |")
    print("|---|---|")
    print(f"| hrp_weights (clustering, ordering, bisection) | {weights * 1e3:.2f} |")
    print(f"| allocate(method='hrp'), all stages | {total * 1e3:.2f} |")
    RESULTS[f"hrp weights, N = {n:,}"] = (weights * 1e3, 50.0, "ms")


def targets_table() -> None:
    print("\n## Targets\n")
    print("| figure | measured | target | |")
    print("|---|---|---|---|")
    for name, (value, target, unit) in RESULTS.items():
        verdict = "ok" if value <= target else "MISSED"
        print(f"| {name} | {value:.2f} {unit} | <= {target:g} {unit} | {verdict} |")


# --- risk-parity solvers -----------------------------------------------------------------------------


def solve_ours(cov, b):
    return solve_risk_parity(cov, b).weights


def solve_riskparityportfolio(cov, b):
    from riskparityportfolio import vanilla

    n = cov.shape[0]
    # its tolerance is absolute on RC_i / sum(RC) - b_i: 1e-10 relative for b_i = 1/N is 1e-10 / N
    return vanilla.design(cov, b, tol=1e-12 / n, maxiter=10_000)


def solve_riskfolio(cov, b):
    import pandas as pd
    import riskfolio as rf

    n = cov.shape[0]
    names = [f"s{i}" for i in range(n)]
    port = rf.Portfolio(returns=pd.DataFrame(np.zeros((2, n)), columns=names))
    port.mu = pd.DataFrame(np.zeros((1, n)), columns=names)
    port.cov = pd.DataFrame(cov, index=names, columns=names)
    w = port.rp_optimization(model="Classic", rm="MV", rf=0, b=b.reshape(-1, 1), hist=False)
    return w.to_numpy().ravel()


def solve_skfolio(cov, b):
    from skfolio.optimization import RiskBudgeting

    n = cov.shape[0]
    model = RiskBudgeting(risk_budget=b, prior_estimator=fixed_prior(cov))  # the benchmark's covariance unchanged
    model.fit(np.zeros((3, n)))
    return model.weights_


SOLVERS = {
    "riskparityportfolio (C++ CCD)": ("riskparityportfolio", solve_riskparityportfolio),
    "Riskfolio-Lib (cvxpy)": ("riskfolio", solve_riskfolio),
    "skfolio (cvxpy)": ("skfolio", solve_skfolio),
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def run_solver_in_child(module: str, cov_path: str, repeats: int) -> dict:
    """Time one library's solver in a fresh interpreter.

    The cvxpy-based libraries leave OpenMP worker threads behind that compete with OpenBLAS
    for the cores and slow every later BLAS call of the process (measured here: our dense solve
    went from 4 ms to 300 ms after a skfolio run). Each library therefore runs in its own process.
    """
    cmd = [sys.executable, __file__, "--child", module, cov_path, "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail[:80]}
    return json.loads(lines[-1])


def child(module: str, cov_path: str, repeats: int) -> None:
    cov = np.load(cov_path)
    n = cov.shape[0]
    b = np.full(n, 1.0 / n)
    solve = next(fn for mod, fn in SOLVERS.values() if mod == module)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        small = cov[:10, :10]
        solve(small, np.full(10, 0.1))  # warm-up: imports, compilation
        elapsed, w = median_time(lambda: solve(cov, b), repeats)
    print(json.dumps({"seconds": elapsed, "accuracy": erc_error(cov, w)}))


def solver_table(sizes, repeats: int, slow_repeats: int) -> None:
    print("\n## Risk parity (ERC) on the same covariance (default estimator, T = 252); times in ms, median\n")
    print("Each library runs in its own process on the same matrix (saved to a temporary .npy file).\n")
    header = ["N", "solver", "time ms", "time / ours (dense)", "max |RC/mean(RC) - 1|"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            returns, _ = make_returns(n, 252, seed=n)
            factor = estimate_covariance(returns).covariance
            cov = factor.dense()
            b = np.full(n, 1.0 / n)
            ours, w = median_time(lambda cov=cov, b=b: solve_ours(cov, b), max(repeats, 7))
            print(f"| {n:,} | ours, dense matrix (Newton-CG) | {ours * 1e3:.2f} | 1.0 | {erc_error(cov, w):.1e} |")
            t_factor, w = median_time(lambda factor=factor, b=b: solve_ours(factor, b), max(repeats, 7))
            print(
                f"| {n:,} | ours, factor form (as allocate() uses it) | {t_factor * 1e3:.2f} | "
                f"{t_factor / ours:.2f} | {erc_error(cov, w):.1e} |"
            )
            path = os.path.join(tmp, f"cov_{n}.npy")
            np.save(path, cov)
            for label, (module, _) in SOLVERS.items():
                if not installed(module):
                    print(f"| {n:,} | {label} | not installed | | |")
                    continue
                reps = max(repeats, 7) if module == "riskparityportfolio" else slow_repeats
                out = run_solver_in_child(module, path, reps)
                if "seconds" not in out:
                    print(f"| {n:,} | {label} | failed: {out.get('error')} | | |")
                    continue
                elapsed = out["seconds"]
                print(f"| {n:,} | {label} | {elapsed * 1e3:.2f} | {elapsed / ours:.1f} | {out['accuracy']:.1e} |")


def ledoit_wolf_table(sizes, repeats: int) -> None:
    print("\n## Ledoit-Wolf covariance: ours vs scikit-learn; times in ms, median\n")
    print("`ours dense` returns the N x N matrix like scikit-learn; `ours factor` is what allocate() uses.")
    print("scikit-learn runs after all of ours (its import starts OpenMP threads).\n")
    header = [
        "N",
        "T",
        "ours dense",
        "ours factor",
        "sklearn",
        "sklearn / ours dense",
        "max |diff|",
        "shrinkage",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = []
    for n, t in sizes:
        x = np.random.default_rng(n).standard_normal((t, n)) * 0.01
        ours, (cov, shrink) = median_time(lambda x=x: ledoit_wolf(x), repeats)
        factor, _ = median_time(lambda x=x: estimate_covariance(x, estimator="ledoit_wolf"), repeats)
        rows.append((n, t, x, ours, factor, cov, shrink))
    for n, t, x, ours, factor, cov, shrink in rows:
        if installed("sklearn"):
            from sklearn.covariance import ledoit_wolf as sk_ledoit_wolf

            theirs, (sk_cov, _) = median_time(lambda x=x: sk_ledoit_wolf(x), repeats)
            diff = float(np.abs(sk_cov - cov).max())
            cells = [f"{theirs * 1e3:.1f}", f"{theirs / ours:.1f}", f"{diff:.1e}"]
        else:
            cells = ["not installed", "", ""]
        cells = [f"{n:,}", str(t), f"{ours * 1e3:.2f}", f"{factor * 1e3:.2f}", *cells, f"{shrink:.3f}"]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N <= 1,000, fewer repeats")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--engine-only", action="store_true", help="allocate(), budgets, hrp and the targets; no other libraries"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODULE", "COV_NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.repeats)
        return
    repeats = 3 if args.quick else args.repeats

    print("# Allocation engine benchmark\n")
    print(f"- python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"- BLAS: {blas_info()}")
    print(
        "- OPENBLAS_CORETYPE="
        + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
        + ", OPENBLAS_L2_SIZE="
        + os.environ.get("OPENBLAS_L2_SIZE", "(unset)")
        + ", OPENBLAS_NUM_THREADS="
        + os.environ.get("OPENBLAS_NUM_THREADS", "(unset)")
    )
    for dist in (
        "Riskfolio-Lib",
        "skfolio",
        "riskparityportfolio",
        "scikit-learn",
        "cvxpy",
        "jax",
        "quadprog",
    ):
        try:  # metadata only: importing the libraries here would disturb the timings below
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        print(f"- {dist}: {version}")

    scale = (
        [(100, 252), (1000, 252), (1000, 30)]
        if args.quick
        else [(100, 252), (1000, 252), (5000, 252), (10000, 252), (1000, 30)]
    )
    scale_table(scale, repeats)
    budgets_table(repeats)
    hrp_table(repeats)
    if args.engine_only:
        targets_table()
        return
    solver_table([100, 1000] if args.quick else [100, 300, 1000], repeats, slow_repeats=1 if args.quick else 3)
    ledoit_wolf_table([(1000, 252), (1000, 30)] if args.quick else [(1000, 252), (1000, 30), (5000, 252)], repeats)
    targets_table()


if __name__ == "__main__":
    main()
