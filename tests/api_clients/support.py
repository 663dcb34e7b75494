"""What the generated-client tests share: the schema as a file, the generators' tools, the world of the flow.

The schema is made in-process, as ``manage.py spectacular`` makes it (the same generator class,
rendered as JSON), and written where the generators read it. The tools are pinned: the Python
generator in the ``dev`` extra, the TypeScript ones in ``package.json`` (``npm ci``). A missing
tool fails the test in CI (``CI=true``, or ``node`` named in ``REQUIRE_SERVICES``); elsewhere it is
skipped with the command that installs it (``-ra`` lists the reason).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NODE_BIN = ROOT / "node_modules" / ".bin"
REQUIRED = {s.strip() for s in os.environ.get("REQUIRE_SERVICES", "").split(",") if s.strip()}
TOOLS_REQUIRED = os.environ.get("CI", "").lower() == "true" or "node" in REQUIRED

PROBLEM_TYPE_PREFIX = "urn:capital-allocation:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"


def write_schema(directory: Path) -> Path:
    """``directory/schema.json``: the OpenAPI document ``/api/schema/`` serves."""
    from drf_spectacular.renderers import OpenApiJsonRenderer
    from drf_spectacular.settings import spectacular_settings

    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    schema = generator.get_schema(request=None, public=True)
    path = directory / "schema.json"
    path.write_bytes(OpenApiJsonRenderer().render(schema, renderer_context={}))
    return path


def tool(path: Path | str, install: str) -> str:
    """The tool's path; missing, the test fails in CI and is skipped elsewhere, naming ``install``."""
    found = shutil.which(str(path))
    if found:
        return found
    message = f"{path} is missing: {install}"
    if TOOLS_REQUIRED:
        pytest.fail(f"{message} (required: CI=true or REQUIRE_SERVICES names node)", pytrace=False)
    pytest.skip(message)


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180):
    """The finished process (text output); never raises on its exit status."""
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def printed(process) -> str:
    """What a process printed, for assertion messages."""
    return f"exit status {process.returncode}\n--- stdout ---\n{process.stdout}\n--- stderr ---\n{process.stderr}"


@dataclass(frozen=True)
class World:
    """What a flow is told: where the server is and who it may sign in as (the users share a password)."""

    base_url: str
    portfolio: str
    password: str
    returns_date: str  # a day the portfolio has returns for: the pushed rows replace them
    integration: str = "integration"  # pushes data, asks a dry run, reads the runs
    requester: str = "risk"  # asks the real rebalance, which waits for approval
    approver: str = "risk2"  # the second risk officer
    viewer: str = "viewer"  # may read, may not rebalance: the 403
