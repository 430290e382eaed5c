// Manager.identify on real git repositories: one file is one hold whether it is
// named in the main worktree, a linked worktree, through a symlink or in a copy
// declared as a checkout of a workspace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HeldByAnother, InvalidInput, Manager } from '../src/index.js';

function git(cwd, ...args) {
  try {
    execFileSync('git', ['-C', cwd, ...args], {
      stdio: 'pipe',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: cwd },
    });
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error('git is not on PATH: install git (Debian: apt-get install git)');
    throw new Error(`git ${args.join(' ')}: ${e.stderr}`);
  }
}

/** `repo` (one commit) with linked worktrees `wt2` and `wt3` beside it, in a fresh directory. */
function repository(t) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'holds-identify-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  mkdirSync(join(repo, 'src'), { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'config', 'user.name', 'Test');
  git(repo, 'config', 'user.email', 'test@example.com');
  writeFileSync(join(repo, 'src', 'lib.rs'), '// lib\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first');
  for (const name of ['wt2', 'wt3']) git(repo, 'worktree', 'add', '-q', '-b', name, join(dir, name));
  return { dir, repo, wt2: join(dir, 'wt2'), wt3: join(dir, 'wt3') };
}

test('every worktree names a file under the main one', async (t) => {
  const { repo, wt2, wt3 } = repository(t);
  const lib = `${repo}/src/lib.rs`;
  const m = await Manager.memory();
  t.after(() => m.close());
  const mine = await m.identify(['src/lib.rs'], { cwd: repo });
  assert.deepEqual(mine, [{ file: lib, checkout: repo }]);
  const seen = await m.identify(['src/lib.rs', `${wt3}/src/new.rs`], { cwd: wt2 });
  assert.deepEqual(seen, [
    { file: lib, checkout: wt2 },
    { file: `${repo}/src/new.rs`, checkout: wt3 },
  ]);
  // Agents in two worktrees contend for one key.
  await m.announce(mine[0].file, 'wa', '30s', { checkout: mine[0].checkout });
  await assert.rejects(m.announce(seen[0].file, 'wb', '30s', { checkout: seen[0].checkout }), (e) => {
    assert.ok(e instanceof HeldByAnother, String(e));
    assert.equal(e.claim.hold.checkoutPath, repo);
    return true;
  });
});

test('symlinks resolve, and .. leaves the link target', async (t) => {
  const { dir, repo } = repository(t);
  symlinkSync(repo, join(dir, 'link'));
  symlinkSync(join(repo, 'src'), join(dir, 'srclink'));
  const m = await Manager.memory();
  t.after(() => m.close());
  const ids = await m.identify(['link/src/a.rs', 'srclink/../README.md'], { cwd: dir });
  assert.deepEqual(
    ids.map((i) => i.file),
    [`${repo}/src/a.rs`, `${repo}/README.md`],
  );
});

test('a copy maps onto its workspace; a workspace alone is refused', async (t) => {
  const { dir } = repository(t);
  const ws = join(dir, 'ws');
  const copy = join(dir, 'copy');
  mkdirSync(ws);
  mkdirSync(copy);
  const m = await Manager.memory();
  t.after(() => m.close());
  const ids = await m.identify(['src/x.rs'], { cwd: copy, workspace: ws, checkout: copy });
  assert.deepEqual(ids, [{ file: `${ws}/src/x.rs`, checkout: copy }]);
  await assert.rejects(m.identify(['x'], { cwd: copy, workspace: ws }), (e) => {
    assert.ok(e instanceof InvalidInput, String(e));
    assert.equal(e.field, 'workspace');
    return true;
  });
});
