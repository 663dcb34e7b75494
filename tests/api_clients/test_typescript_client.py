"""A TypeScript client (openapi-typescript's types, openapi-fetch) runs the integration flow.

Once per module: openapi-typescript turns the in-process schema into ``schema.d.ts`` beside a copy
of ``flow.ts`` (committed here) and ``world.d.ts`` (the shape of what the flow is told); ``tsc
--strict --noEmit`` type-checks it. The flow test compiles it to JavaScript, writes ``world.js``
(the live server's address, the users' password) and runs it with node against the live server.
The build directory links ``node_modules`` of the project, so the pinned packages are found.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import NODE_BIN, ROOT, World, printed, run, tool

FLOW = Path(__file__).with_name("flow.ts")
NPM_CI = "npm ci (the devDependencies of package.json)"
# A field with a default may be left out of a request: without this, openapi-typescript 7 makes every
# such field required in request bodies too (dry_run, force_rebalance, a signal's source).
GENERATOR_OPTIONS = ["--default-non-nullable", "false"]
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "ES2022",
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "lib": ["ES2022", "DOM"],
        "types": [],
        "rootDir": ".",
        "outDir": "out",
    },
    "files": ["flow.ts"],
}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Build:
    directory: Path
    generation: object  # openapi-typescript's finished process
    tsc: str
    node: str


@pytest.fixture(scope="module")
def build(schema_file, tmp_path_factory) -> Build:
    node = tool("node", "install Node.js 20")
    tsc = tool(NODE_BIN / "tsc", NPM_CI)
    generator = tool(NODE_BIN / "openapi-typescript", NPM_CI)
    directory = tmp_path_factory.mktemp("typescript-client")
    (directory / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    (directory / "package.json").write_text(json.dumps({"private": True, "type": "module"}))
    (directory / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
    shutil.copyfile(FLOW, directory / "flow.ts")
    fields = "; ".join(f"readonly {_camel(f.name)}: string" for f in dataclasses.fields(World))
    (directory / "world.d.ts").write_text(f"export declare const world: {{ {fields} }};\n")
    generation = run(
        [generator, str(schema_file), "-o", str(directory / "schema.d.ts"), *GENERATOR_OPTIONS], cwd=directory
    )
    return Build(directory=directory, generation=generation, tsc=tsc, node=node)


def test_openapi_typescript_prints_no_warning(build):
    process = build.generation
    assert process.returncode == 0, printed(process)
    said = [line for line in (process.stdout + process.stderr).splitlines() if line.strip()]
    assert [line.split(" ", 1)[0] for line in said] == ["✨", "🚀"], printed(process)  # its banner, the file written
    assert "schema.d.ts" in said[-1], printed(process)


def test_the_flow_type_checks_with_tsc_strict(build):
    assert build.generation.returncode == 0, printed(build.generation)
    process = run([build.tsc, "--strict", "--noEmit", "-p", "tsconfig.json"], cwd=build.directory)
    assert process.returncode == 0, printed(process)


def test_the_integration_flow_with_the_typescript_client(build, world):
    assert build.generation.returncode == 0, printed(build.generation)
    # JavaScript is emitted even when types are wrong: the type check above says what is; this runs it.
    compiled = run([build.tsc, "-p", "tsconfig.json"], cwd=build.directory)
    flow = build.directory / "out" / "flow.js"
    assert flow.is_file(), printed(compiled)
    told = {_camel(name): value for name, value in dataclasses.asdict(world).items()}
    (flow.parent / "world.js").write_text(f"export const world = {json.dumps(told)};\n")
    process = run([build.node, str(flow)], cwd=build.directory, timeout=120)
    assert process.returncode == 0, printed(process)
    assert process.stdout.splitlines()[-1] == "flow: ok", printed(process)
