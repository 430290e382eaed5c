// A Node host for the holds component: instantiate it with JavaScript
// implementations of its imports (kv, clock, observer) and use its exports.
//
// generated/holds.js is jco's transpilation of the component
// (`npm run build`, also run by `npm test`).
import { readFile } from 'node:fs/promises';
import { instantiate } from '../generated/holds.js';

const generated = new URL('../generated/', import.meta.url);
const modules = new Map();

/** Compile each core wasm module of the component once per process. */
function getCoreModule(path) {
  if (!modules.has(path)) {
    modules.set(path, readFile(new URL(path, generated)).then((bytes) => WebAssembly.compile(bytes)));
  }
  return modules.get(path);
}

/** A clock the caller sets: nanoseconds since the Unix epoch, as a BigInt (WIT `s64`). */
export class ManualClock {
  constructor(now = 1_700_000_000_000_000_000n) {
    this.ns = BigInt(now);
  }
  now() {
    return this.ns;
  }
  set(ns) {
    this.ns = BigInt(ns);
  }
  advance(ns) {
    this.ns += BigInt(ns);
  }
}

/** The wall clock, in nanoseconds since the Unix epoch (millisecond resolution). */
export const systemClock = { now: () => BigInt(Date.now()) * 1_000_000n };

/** An observer that records every `cas-retry(key, attempt)` call. */
export class RecordingObserver {
  retries = [];
  casRetry(key, attempt) {
    this.retries.push({ key, attempt });
  }
}

/**
 * Instantiate the component.
 *
 * - `kv`: an object with synchronous `get`, `writeIfRevision`, `deleteIfRevision`
 *   (e.g. `new MemoryKv().imports()`); a kv error is thrown as an Error with an own
 *   `payload` property holding the `kv-error` variant (see KvFailure).
 * - `clock`: `{ now() }` returning nanoseconds since the epoch as a BigInt.
 * - `observer`: `{ casRetry(key, attempt) }`; optional.
 *
 * Returns `{ holds, subscribe }`, the two exported interfaces. An export
 * whose WIT result is `err` throws jco's ComponentError with the `error` variant in
 * `e.payload` (e.g. `{ tag: 'held-by-another', val: claim }`).
 */
export async function instantiateHolds({ kv, clock, observer = { casRetry() {} } }) {
  const imports = {
    kv,
    clock: { now: () => clock.now() },
    observer: { casRetry: (key, attempt) => observer.casRetry(key, attempt) },
    types: {}, // only types: nothing to provide
  };
  // jco 1.35's generated JS looks imports up without the version
  // ('holds:core/kv'), while its .d.ts names them with it ('holds:core/kv@0.2.0'):
  // give both.
  const importObject = {};
  for (const [name, value] of Object.entries(imports)) {
    importObject[`holds:core/${name}`] = value;
    importObject[`holds:core/${name}@0.2.0`] = value;
  }
  const root = await instantiate(getCoreModule, importObject);
  return { holds: root.holds, subscribe: root.subscribe };
}

/** The `error` variant an export threw, or rethrow what is not one. */
export function holdsError(e) {
  if (e && Object.prototype.hasOwnProperty.call(e, 'payload') && e.payload?.tag) return e.payload;
  throw e;
}
