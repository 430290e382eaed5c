// Obtains the holds component and transpiles it for Node with jco.
//
// The component comes from $HOLDS_COMPONENT when set, else from the repository's
// own build (`cargo run -q -p holds -- component --out ...`). jco turns it into an
// ES module plus core wasm files under generated/, in instantiation mode so every
// host (and every test) instantiates it with its own imports.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '..');
const repo = resolve(pkg, '../..');
const out = join(pkg, 'generated');

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`build-component: \`${cmd} ${args.join(' ')}\` exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

let component = process.env.HOLDS_COMPONENT;
if (component) {
  component = resolve(component);
  if (!existsSync(component)) {
    console.error(`build-component: HOLDS_COMPONENT=${component} does not exist`);
    process.exit(1);
  }
} else {
  component = join(out, 'holds.wasm');
  console.error('build-component: building the component with cargo (minutes the first time)');
  run('cargo', ['run', '-q', '-p', 'holds', '--', 'component', '--out', component], repo);
}

// jco's command-line entry point (its package.json `bin`).
const jco = join(pkg, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
run(process.execPath, [
  jco, 'transpile', component,
  '--out-dir', out,
  '--name', 'holds',
  // The component imports no WASI interface, so no shim is needed.
  '--no-wasi-shim',
  // Export instantiate(getCoreModule, imports) instead of binding imports at load time.
  '--instantiation', 'async',
  '--quiet',
], pkg);
