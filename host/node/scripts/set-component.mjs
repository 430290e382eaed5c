// Put a holds component into this package: copy it to component/holds.wasm and
// transpile it with jco into generated/ (ES module + core wasm files + .d.ts),
// recording its SHA-256 in generated/component.sha256.
//
//   node scripts/set-component.mjs path/to/holds.wasm   # adopt a new build
//   node scripts/set-component.mjs                      # re-transpile component/holds.wasm
//
// generated/ is committed, so installing the package needs no jco.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(pkg, 'component', 'holds.wasm');
const out = join(pkg, 'generated');

const given = process.argv[2];
if (given) {
  if (!existsSync(given)) {
    console.error(`set-component: ${given} does not exist`);
    process.exit(1);
  }
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(given, target);
}
if (!existsSync(target)) {
  console.error(`set-component: ${target} is missing; pass a component file`);
  process.exit(1);
}

const jco = join(pkg, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
if (!existsSync(jco)) {
  console.error('set-component: jco is not installed; run `npm ci` first');
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
const args = [
  jco,
  'transpile',
  target,
  '--out-dir',
  out,
  '--name',
  'holds',
  // The component imports no WASI interface: no shim.
  '--no-wasi-shim',
  // instantiate(getCoreModule, imports): every worker binds its own imports.
  '--instantiation',
  'async',
  '--quiet',
];
const run = spawnSync(process.execPath, args, { cwd: pkg, stdio: 'inherit' });
if (run.status !== 0) {
  console.error(`set-component: jco exited with ${run.status ?? run.signal}`);
  process.exit(1);
}
const digest = createHash('sha256').update(readFileSync(target)).digest('hex');
writeFileSync(join(out, 'component.sha256'), `${digest}  holds.wasm\n`);
console.error(`set-component: component/holds.wasm (sha256 ${digest}) transpiled into generated/`);
