// Everything that knows the WIT contract `holds:core@0.3.0`, in one place.
//
// The rest of the package speaks plain JavaScript values; this module builds
// the component's import object, calls its exports, and turns WIT values and
// errors into the package's. A change of the WIT (new imports, new exports, a
// case leaving the `error` variant) changes this module and the stores only.
//
// How jco 1.35 maps WIT values: u64/s64 are BigInt, u32 a number, list<u8> a
// Uint8Array, enums strings, records objects with camelCase fields, option<T>
// the value or undefined, variants `{ tag, val }`. Claims (and the holders in
// errors) pass through as jco has them, `scope` included ('file', 'directory'
// or 'glob': what `file` names, never guessed from its text). An export whose result is
// `err` throws jco's ComponentError with the `error` variant in `e.payload`. An
// import returns `err` by throwing a value with an own `payload` property (the
// `kv-error`); throwing anything else traps the call.
import { closeSync, fstatSync, lstatSync, openSync, readSync, readlinkSync } from 'node:fs';
import {
  CasExhausted,
  Closed,
  CorruptEntry,
  GuestError,
  HeldByAnother,
  HeldByOthers,
  InvalidInput,
  Lost,
  StoreError,
} from './errors.js';
import { NotStored, Unavailable, Unsupported, WrongRevision } from './stores/errors.js';

export const PACKAGE = 'holds:core';
export const VERSION = '0.3.0';

/** The kv-error values an import can return. */
export const wrongRevision = () => ({ tag: 'wrong-revision' });
export const unavailable = (message) => ({ tag: 'unavailable', val: String(message) });

/** The kv-error for what a store threw (anything unknown: the store is unavailable). */
export function kvError(e) {
  if (e instanceof WrongRevision) return wrongRevision();
  if (e instanceof NotStored) return { tag: 'not-stored', val: { why: e.why, detail: String(e.detail) } };
  if (e instanceof Unsupported) return { tag: 'unsupported' };
  if (e instanceof Unavailable) return unavailable(e.message);
  return unavailable(`store failure: ${e?.message ?? e}`);
}

/** What an import throws to return `err(kvError)` (see getErrorPayload in jco's output). */
export function kvFailure(kvError) {
  return { payload: kvError };
}

/** The `through` of a scan that asks for the store's current state, read fresh
 * (the largest u64); any other asks for a view with every change up to it. */
export const SCAN_FRESH = (1n << 64n) - 1n;

export const MISSING = Object.freeze({ found: false, value: new Uint8Array(0), revision: 0n, operation: 'put' });

/**
 * The import object for one instance. `kv` has synchronous `get(key)`,
 * `writeIfRevision(key, value, expected, ttlSeconds)`, `deleteIfRevision(key,
 * expected, why, note)`, `getMany(keys)`, `writeBatch(writes)` and `scan(prefix,
 * through)` returning the ok value or throwing `kvFailure(...)`. `pause(ns)` waits before a write is
 * sent again, or returns false at once when that would pass the call's deadline.
 */
export function importObject({ kv, now, pause, casRetry }) {
  const interfaces = {
    fs: { inspect, readLinkFile },
    kv: {
      get: (key) => kv.get(key),
      writeIfRevision: (key, value, expected, ttlSeconds) => kv.writeIfRevision(key, value, expected, ttlSeconds),
      deleteIfRevision: (key, expected, why, note) => kv.deleteIfRevision(key, expected, why, note),
      getMany: (keys) => kv.getMany(keys),
      writeBatch: (writes) => kv.writeBatch(writes),
      // [{ key, entry }]: every key under `prefix` that holds a value
      scan: (prefix, through) => kv.scan(prefix, through),
    },
    clock: { now: () => now(), pause: (after) => pause(after) },
    observer: { casRetry: (key, attempt) => casRetry(key, attempt) },
    types: {}, // only types: nothing to provide
  };
  // jco 1.35's generated JS reads imports by unversioned name ('holds:core/kv')
  // while its .d.ts names them with the version: give both.
  const imports = {};
  for (const [name, value] of Object.entries(interfaces)) {
    imports[`${PACKAGE}/${name}`] = value;
    imports[`${PACKAGE}/${name}@${VERSION}`] = value;
  }
  return imports;
}

/** The largest git link file `read-link-file` reads (a `.git` file, `commondir`). */
const MAX_LINK_FILE = 4096;

/** The `fs.inspect` import: what is at `path`, a final symlink not followed. */
export function inspect(path) {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return { tag: 'missing' };
  }
  if (stat.isSymbolicLink()) {
    try {
      const target = readlinkSync(path, { encoding: 'buffer' });
      const text = new TextDecoder('utf-8', { fatal: true }).decode(target);
      return { tag: 'symlink', val: text };
    } catch {
      return { tag: 'other' }; // unreadable, or not UTF-8
    }
  }
  if (stat.isDirectory()) return { tag: 'directory' };
  if (stat.isFile()) return { tag: 'file' };
  return { tag: 'other' };
}

/** The `fs.read-link-file` import: a small UTF-8 regular file's text, or undefined. */
export function readLinkFile(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
    if (!fstatSync(fd).isFile()) return undefined;
    const buffer = Buffer.alloc(MAX_LINK_FILE + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0;) {
      length += n;
    }
    if (length > MAX_LINK_FILE) return undefined;
    return new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The entry a kv write or delete left, for the replica (`operation` of a removal). */
export const removalOperation = (why) => (why === 'expired' ? 'expire' : 'delete');

/** Is `e` an export's error (a ComponentError carrying the WIT `error` variant)? */
export function isExportError(e) {
  return e !== null && typeof e === 'object' && Object.hasOwn(e, 'payload') && typeof e.payload?.tag === 'string';
}

/**
 * Call export `op` on an instance's root with plain arguments; returns a plain
 * result. Runs in a component worker.
 */
export function callExport(root, op, args) {
  const { holds, subscribe } = root;
  switch (op) {
    case 'announce': {
      const [file, agentId, ttl, checkoutPath, mode, ttlMax, observed] = args;
      return holds.announce({ file, agentId, ttl, checkoutPath, mode: MODE[mode] }, ttlMax, observed);
    }
    case 'release': {
      const [file, agentId, observed] = args;
      const out = holds.release(file, agentId, observed);
      return out.tag === 'released' ? { released: true, revision: out.val } : { released: false };
    }
    case 'whoHas':
      return holds.whoHas(args[0], args[1]);
    case 'covering':
      return holds.covering(args[0]);
    case 'claimFiles': {
      const [files, agentId, ttl, checkoutPath, mode, ttlMax, maxFiles, observed] = args;
      return holds.claimFiles({ files, agentId, ttl, checkoutPath, mode: MODE[mode] }, ttlMax, maxFiles, observed);
    }
    case 'renew': {
      const [file, agentId, ttl, checkoutPath, mode, revision, ttlMax] = args;
      return holds.renew({ file, agentId, ttl, checkoutPath, mode: MODE[mode] }, revision, ttlMax);
    }
    case 'checkFiles': {
      const [files, agentId, tokens] = args;
      return holds.check(files, agentId, BigUint64Array.from(tokens)).map(fileCheck);
    }
    case 'forceRelease': {
      const [file, by, observed] = args;
      const out = holds.forceRelease(file, by, observed);
      return out.tag === 'released' ? { released: true, revision: out.val } : { released: false };
    }
    case 'keyForFile':
      return holds.keyForFile(args[0]);
    case 'fileForKey':
      return holds.fileForKey(args[0]);
    case 'checkBucket': {
      const [bucket, maxAge, limits, ttlMax] = args;
      holds.checkBucket({ bucket, maxAge, ...limits }, ttlMax);
      return null;
    }
    case 'identify': {
      const [paths, cwd, workspace, checkout] = args;
      return holds.identify(paths, { cwd, workspace, checkout });
    }
    case 'interpret': {
      // args: [[key, entry, previous, snapshot], ...]: a batch, one worker trip.
      return args.map(([key, entry, previous, snapshot]) =>
        interpretation(subscribe.interpret({ key, entry, previous: previous ?? MISSING, snapshot })),
      );
    }
    case 'sweep': {
      const out = subscribe.sweep(args[0], args[1]);
      return { tag: out.tag, value: out.val };
    }
    case 'markerHeaders':
      // [{ name, value, operation }]: first match wins, none is a put
      return subscribe.markerHeaders();
    case 'upkeep':
      // { pruneEvery, keepHold, keepMarker, sweepRetry, restartAfter } in ns, and concurrentSweeps
      return subscribe.upkeep(args[0]);
    default:
      throw new TypeError(`unknown export ${op}`);
  }
}

/** The `mode` enum's cases by the API's names for them. */
const MODE = Object.freeze({ exclusive: 'exclusive', shared: 'shared' });
/** The API's hold modes ('exclusive' is the default). */
export const MODES = Object.freeze(Object.keys(MODE));

/** `file-state` cases as the API names them. */
const STATE = Object.freeze({
  held: 'held',
  'token-moved': 'tokenMoved',
  'held-by-another': 'heldByAnother',
  shared: 'shared',
  vacant: 'vacant',
});

/** A `file-check` as the API has it: `{ file, state, claim }` (no claim when vacant). */
export function fileCheck({ file, state }) {
  const name = STATE[state.tag];
  if (name === undefined) throw new TypeError(`unknown file-state case ${state.tag}`);
  return { file, state: name, claim: state.val };
}

function interpretation(out) {
  let event;
  if (out.event) {
    const { file, scope, revision, kind } = out.event;
    event = { file, scope, revision, kind: kind.tag };
    if (kind.tag === 'announced') event.hold = kind.val;
    if (kind.tag === 'released' && kind.val !== undefined) event.forcedBy = kind.val;
  }
  return { event, expiryCheckAt: out.expiryCheckAt, dropped: out.dropped };
}

/** The exception for an export's `error` variant. */
export function errorFromWit(payload) {
  const { tag, val } = payload;
  switch (tag) {
    case 'held-by-another':
      return new HeldByAnother(val);
    case 'held-by-others':
      return new HeldByOthers(val);
    case 'lost':
      return new Lost(val.file, val.revision, val.holder);
    case 'invalid-input':
      return new InvalidInput(val.field, val.reason);
    case 'cas-exhausted':
      return new CasExhausted(val);
    case 'corrupt-entry':
      return new CorruptEntry(val.key, val.revision, val.reason);
    case 'store':
      return new StoreError(val);
    case 'closed':
      return new Closed();
    default:
      return new GuestError(`unknown error case ${tag}`);
  }
}
