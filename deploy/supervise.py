"""Run the processes of a Procfile (``make serve``: web, worker, beat) and restart each one that dies, alone.

honcho, which ran them before, stopped every process when one exited: a worker killed by a Redis
restart took web and beat down with it and nothing brought them back.

    python deploy/supervise.py deploy/Procfile.serve [web worker beat]
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1


def log(level: str, message: str, **fields) -> None:
    line = {"timestamp": datetime.now(UTC).isoformat(), "level": level, "logger": "supervise", "message": message}
    print(json.dumps({**line, **fields}), file=sys.stderr, flush=True)


def env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}: expected a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise SystemExit(f"{name}: must be greater than 0, got {raw!r}")
    return value


def read_procfile(path: Path) -> dict[str, str]:
    commands = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise SystemExit(f"{path}: line {number}: expected 'name: command', got {line!r}")
        commands[name.strip()] = command.strip()
    return commands


def chosen(commands: dict[str, str], names: list[str]) -> dict[str, str]:
    wanted = [n for item in names for n in item.replace(",", " ").split()]
    unknown = [n for n in wanted if n not in commands]
    if unknown:
        raise SystemExit(f"unknown process {', '.join(unknown)}; the Procfile has {', '.join(commands)}")
    return {n: commands[n] for n in commands if not wanted or n in wanted}


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    command: str
    process: subprocess.Popen | None = None
    started: float = 0.0
    quick_failures: int = 0
    start_at: float = 0.0  # when to start it (again); monotonic
    restarts: int = 0

    @property
    def compound(self) -> bool:
        """A line of several commands (``a; b``, ``a && b``, a pipe) runs in a shell that stays."""
        return any(op in self.command for op in (";", "&", "|", "\n"))

    def start(self) -> None:
        script = self.command if self.compound else f"exec {self.command}"  # the command is the child itself
        self.process = subprocess.Popen(["/bin/sh", "-c", script], start_new_session=True, preexec_fn=_die_with_parent)
        self.started = time.monotonic()
        log("INFO", f"{self.name} started", process=self.name, pid=self.process.pid, restarts=self.restarts)

    def signal(self, signum: int) -> None:
        """To the main process, as Docker sends it: it stops its own workers in order (to the whole
        group for a compound line: its shell would not pass it on)."""
        if self.process is not None and self.process.poll() is None:
            if self.compound:
                try:
                    os.killpg(self.process.pid, signum)
                except ProcessLookupError:
                    pass
            else:
                self.process.send_signal(signum)

    def kill_group(self) -> None:
        """Everything left in its process group (a pool process whose parent was killed)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Supervisor:
    """Start every process; restart one that exits after a pause that doubles while it keeps failing
    quickly (1, 2, 4 ... at most ``SERVE_RESTART_MAX_DELAY`` seconds, default 30) and is 1 s again once
    it ran ``SERVE_RESTART_RESET`` seconds (default 30), so a crash loop does not spin the CPU.

    ``TERM`` or ``INT`` (Ctrl-C) stop: each main process gets ``TERM`` (granian finishes its requests,
    Celery its tasks), its process group ``KILL`` after ``SERVE_STOP_TIMEOUT`` seconds (default 45),
    then this exits 0. ``HUP`` goes to ``web`` only (granian replaces its workers one by one: the
    upgrade step of docs/runbook.md). Children are told to stop if this process is killed
    (``PR_SET_PDEATHSIG``). Each line runs under ``sh`` (``${WORKER_CONCURRENCY:-2}`` is expanded) in
    a process group of its own, its output passed through (JSON lines; this one's: ``"logger": "supervise"``).
    """

    def __init__(self, commands: dict[str, str]) -> None:
        self.children = [Child(name, command) for name, command in commands.items()]
        self.stopping = False
        self.max_delay = env_seconds("SERVE_RESTART_MAX_DELAY", 30)
        self.reset_after = env_seconds("SERVE_RESTART_RESET", 30)
        self.stop_timeout = env_seconds("SERVE_STOP_TIMEOUT", 45)

    def on_stop(self, signum, _frame) -> None:
        if not self.stopping:
            log("INFO", f"{signal.Signals(signum).name}: stopping {', '.join(c.name for c in self.children)}")
        self.stopping = True

    def on_hup(self, _signum, _frame) -> None:
        for child in self.children:
            if child.name == "web":
                child.signal(signal.SIGHUP)

    def reap(self, child: Child, now: float) -> None:
        code = child.process.returncode
        ran = now - child.started
        child.quick_failures = 0 if ran >= self.reset_after else child.quick_failures + 1
        delay = min(2 ** max(child.quick_failures - 1, 0), self.max_delay)
        child.kill_group()
        child.process, child.start_at, child.restarts = None, now + delay, child.restarts + 1
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
        log("WARNING", f"{child.name} exited ({how}) after {ran:.1f} s; restart in {delay:g} s", process=child.name)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_stop)
        signal.signal(signal.SIGINT, self.on_stop)
        signal.signal(signal.SIGHUP, self.on_hup)
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                if child.process is None and now >= child.start_at:
                    child.start()
                elif child.process is not None and child.process.poll() is not None:
                    self.reap(child, now)
            time.sleep(POLL_SECONDS)
        return self.stop()

    def stop(self) -> int:
        for child in self.children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                log("WARNING", f"{child.name} did not stop in {self.stop_timeout:g} s: killed", process=child.name)
                child.kill_group()
                child.process.wait()
        log("INFO", "stopped")
        return 0


def main(argv: list[str]) -> int:
    """The names after the Procfile (space- or comma-separated, else ``SERVE_PROCESSES``) choose which
    to run; an unknown one is refused with the list."""
    if not argv:
        raise SystemExit("usage: supervise.py PROCFILE [NAME ...]")
    commands = chosen(read_procfile(Path(argv[0])), argv[1:] or [os.environ.get("SERVE_PROCESSES", "")])
    return Supervisor(commands).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
