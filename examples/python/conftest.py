"""Test setup: obtain the component once per session and compile it once.

The component comes from $HOLDS_COMPONENT when set, else from the repository's own
build (`cargo run -q -p holds -- component --out .build/holds.wasm`).
"""

import os
import subprocess
from pathlib import Path

import pytest
import wasmtime

import holds_host

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def component_path() -> Path:
    given = os.environ.get("HOLDS_COMPONENT")
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            raise pytest.UsageError(f"HOLDS_COMPONENT={path} does not exist")
        return path
    path = HERE / ".build" / "holds.wasm"
    path.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["cargo", "run", "-q", "-p", "holds", "--", "component", "--out", str(path)],
        cwd=REPO,
        check=True,
    )
    return path


@pytest.fixture(scope="session")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


@pytest.fixture(scope="session")
def component(engine):
    return holds_host.load(engine, str(component_path()))
