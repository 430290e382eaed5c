"""Manager.identify on real git repositories: one file is one hold whether it is
named in the main worktree, a linked worktree, through a symlink or in a copy
declared as a checkout of a workspace."""

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import holds


def git(cwd: Path, *args: str) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is not on PATH: install git (Debian: apt-get install git)")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """`repo` (one commit) with linked worktrees `wt2` and `wt3` beside it."""
    root = (tmp_path / "repo").resolve()
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    (root / "src" / "lib.rs").write_text("// lib\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    for name in ("wt2", "wt3"):
        git(root, "worktree", "add", "-q", "-b", name, str(root.parent / name))
    return root


def test_every_worktree_names_a_file_under_the_main_one(repo: Path):
    wt2, wt3 = repo.parent / "wt2", repo.parent / "wt3"
    lib = f"{repo}/src/lib.rs"

    async def main():
        async with await holds.Manager.memory() as m:
            mine = await m.identify(["src/lib.rs"], cwd=str(repo))
            assert mine == [holds.Identity(lib, str(repo))]
            seen = await m.identify(["src/lib.rs", f"{wt3}/src/new.rs"], cwd=str(wt2))
            assert seen == [holds.Identity(lib, str(wt2)), holds.Identity(f"{repo}/src/new.rs", str(wt3))]

            # Agents in two worktrees contend for one key.
            await m.announce(mine[0].file, "wa", "30s", checkout=mine[0].checkout)
            with pytest.raises(holds.HeldByAnother) as refused:
                await m.announce(seen[0].file, "wb", "30s", checkout=seen[0].checkout)
            assert refused.value.claim.hold.checkout_path == str(repo)

    asyncio.run(main())


def test_symlinks_resolve_and_dotdot_leaves_the_target(repo: Path):
    (repo.parent / "link").symlink_to(repo)
    (repo.parent / "srclink").symlink_to(repo / "src")

    async def main():
        async with await holds.Manager.memory() as m:
            ids = await m.identify(["link/src/a.rs", "srclink/../README.md"], cwd=str(repo.parent))
            assert [i.file for i in ids] == [f"{repo}/src/a.rs", f"{repo}/README.md"]

    asyncio.run(main())


def test_a_copy_maps_onto_its_workspace(tmp_path: Path):
    ws, copy = (tmp_path / "ws").resolve(), (tmp_path / "copy").resolve()
    ws.mkdir()
    copy.mkdir()

    async def main():
        async with await holds.Manager.memory() as m:
            ids = await m.identify(["src/x.rs"], cwd=str(copy), workspace=str(ws), checkout=str(copy))
            assert ids == [holds.Identity(f"{ws}/src/x.rs", str(copy))]
            with pytest.raises(holds.InvalidInput) as bad:
                await m.identify(["x"], cwd=str(copy), workspace=str(ws))
            assert bad.value.field == "workspace"

    asyncio.run(main())


def test_the_working_directory_is_the_default(repo: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(repo.parent / "wt2")

    async def main():
        async with await holds.Manager.memory() as m:
            assert (await m.identify(["src/lib.rs"]))[0].file == f"{repo}/src/lib.rs"

    asyncio.run(main())
