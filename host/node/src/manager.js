// The holds manager: the async public API over one bucket.
//
// Calls run on component workers (see pool.js and bridge.js); the store, its
// connection, the watcher and the bookkeeping live on the calling (main)
// thread, which never blocks.
import { SharedClock, SystemClock } from './clock.js';
import { toNanos } from './duration.js';
import { Closed, ConfigError, HoldsError, InvalidInput, StoreError } from './errors.js';
import { Hub } from './hub.js';
import { InstancePool } from './pool.js';
import { CAUGHT_UP, Unavailable } from './stores/errors.js';
import { JetStreamStore } from './stores/jetstream.js';
import { MemoryStore } from './stores/memory.js';
import { MODES } from './wit.js';

const BUCKET = /^[A-Za-z0-9_-]+$/;
/** Cached answers of key-for-file (cleared when full). */
const KEY_CACHE = 4096;
/** A bucket's limits when its store reports none (WIT `bucket-settings`). */
const NO_LIMITS = Object.freeze({
  maxMessages: -1n,
  maxBytes: -1n,
  maxMessagesPerKey: -1n,
  discardOld: false,
  discardNewPerKey: false,
});
/** Paths per `check` or `identify` guest call, at most, and bytes of paths (a
 * path's cost grows with its length; a longer one goes alone), as the Rust host. */
const BATCH_PATHS = 256;
const BATCH_BYTES = 64 << 10;

/** Consecutive [start, end) ranges of `paths`, each one guest call's worth. */
function batches(paths) {
  const ranges = [];
  let start = 0;
  let size = 0;
  paths.forEach((path, i) => {
    const length = Buffer.byteLength(path);
    if (i > start && (i - start === BATCH_PATHS || size + length > BATCH_BYTES)) {
      ranges.push([start, i]);
      start = i;
      size = 0;
    }
    size += length;
  });
  if (start < paths.length) ranges.push([start, paths.length]);
  return ranges;
}
const U64 = 1n << 64n;
/** The most files one claim may take by default (bones' default, as the Rust host). */
const MAX_CLAIM_FILES = 16;

function ttlNanos(ttl) {
  let ns;
  try {
    ns = toNanos(ttl);
  } catch (e) {
    throw new InvalidInput('ttl', e.message);
  }
  if (ns >= U64) throw new InvalidInput('ttl', 'too long');
  return ns;
}

/** A hold's mode as given (default 'exclusive'), or InvalidInput for any other value. */
export function modeOf(mode = 'exclusive') {
  if (!MODES.includes(mode)) throw new InvalidInput('mode', `must be one of ${MODES.map((m) => `'${m}'`).join(', ')}`);
  return mode;
}

function configured({ bucket = 'holds', ttlMax = '5m', chanBuffer = 32, instances = 2 }) {
  if (!BUCKET.test(bucket)) throw new ConfigError(`bucket name ${JSON.stringify(bucket)} must match [A-Za-z0-9_-]+`);
  let max;
  try {
    max = toNanos(ttlMax);
  } catch (e) {
    throw new ConfigError(`ttlMax: ${e.message}`);
  }
  if (max <= 0n) throw new ConfigError('ttlMax must be positive');
  if (!(chanBuffer >= 1)) throw new ConfigError('chanBuffer must be at least 1');
  if (!(instances >= 1)) throw new ConfigError('instances must be at least 1');
  return max;
}

export class Manager {
  /**
   * Connect to NATS and open (or create) the JetStream bucket. A new bucket gets
   * history 1, file storage, max age `ttlMax` and, on nats-server >= 2.11,
   * limit markers (per-hold TTLs). An existing bucket is used as it is; one
   * whose settings could drop a live hold (a max age under `ttlMax`, a limit
   * that drops the oldest entries) is refused (ConfigError).
   */
  static async jetstream(options = {}) {
    const { servers = '127.0.0.1:4222', bucket = 'holds', replicas = 1, opTimeoutMs = 5000, natsOptions } = options;
    const ttlMax = configured(options);
    let store;
    try {
      store = await JetStreamStore.open({ servers, bucket, maxAge: ttlMax, replicas, opTimeoutMs, natsOptions });
    } catch (e) {
      throw e instanceof Unavailable ? new StoreError(e.message) : e;
    }
    return Manager.#finish(store, ttlMax, options, true);
  }

  /** A manager on a fresh in-process bucket (max age `ttlMax`). */
  static async memory(options = {}) {
    const store = new MemoryStore({ maxAge: configured(options) });
    return Manager.open(store, options);
  }

  /** A manager on an existing store, e.g. one MemoryStore shared by several
   * managers. The store stays open when the manager closes. */
  static async open(store, options = {}) {
    return Manager.#finish(store, configured(options), options, false);
  }

  static async #finish(store, ttlMax, options, ownsStore) {
    const manager = new Manager(store, ttlMax, options, ownsStore);
    try {
      await manager.pool.starting;
    } catch (e) {
      await manager.close();
      throw new ConfigError(`starting the component workers: ${e.message}`);
    }
    // A bucket whose settings could drop a live hold (a max age under the
    // maximum TTL, a limit that drops the oldest entries) is refused. The
    // replica is kept, and sweeps run, by the component's plan for its max age.
    const maxAge = store.maxAge ?? 0n;
    try {
      await manager.guest('checkBucket', [store.bucket ?? 'memory', maxAge, store.limits ?? NO_LIMITS, ttlMax]);
      manager.hub.upkeep = await manager.guest('upkeep', [maxAge]);
    } catch (e) {
      await manager.close();
      if (e instanceof InvalidInput) throw new ConfigError(e.reason);
      throw e;
    }
    if (manager.replica) manager.hub.keepWarm();
    return manager;
  }

  constructor(store, ttlMax, options, ownsStore) {
    const {
      clock = new SystemClock(),
      replica = true,
      chanBuffer = 32,
      instances = 2,
      opTimeoutMs = 5000,
      maxClaimFiles = MAX_CLAIM_FILES,
    } = options;
    this.maxClaimFiles = maxClaimFiles;
    this.store = store;
    this.ttlMax = ttlMax;
    this.clock = clock;
    this.opTimeoutMs = opTimeoutMs;
    this.replica = replica;
    this.ownsStore = ownsStore;
    this.closed = false;
    this.keys = new Map();
    this.pool = new InstancePool({ store, clock, size: instances, opTimeoutMs });
    this.hub = new Hub({
      store,
      pool: this.pool,
      clock,
      chanBuffer,
      startTimeoutMs: opTimeoutMs * 2,
      log: options.log ?? ((line) => console.warn(line)),
    });
    // The component's scans are answered from the replica when it has every
    // change they must see; otherwise (and with no replica) from the store.
    if (replica) this.pool.view = (prefix, through) => this.hub.scanView(prefix, through);
    // An open manager keeps the process alive (as an open NATS connection
    // does), whatever its store: close it to let the process exit.
    this.alive = setInterval(() => {}, 1 << 30);
  }

  checkOpen() {
    if (this.closed) throw new Closed();
  }

  /** Run export `op` on a worker; record what it learnt for the replica. */
  async guest(op, args) {
    this.checkOpen();
    try {
      const { value, learnt } = await this.pool.call(op, args);
      if (this.replica) this.hub.observeOwn(learnt);
      return value;
    } catch (e) {
      if (this.replica && e?.learnt) this.hub.observeOwn(e.learnt);
      throw e;
    }
  }

  /** The replica's entry for `file`'s key, if warm (undefined: the guest reads). */
  async hint(file) {
    if (!this.replica || this.hub.phase !== 'ready') return undefined;
    let key = this.keys.get(file);
    if (key === undefined) {
      try {
        key = await this.guest('keyForFile', [file]);
      } catch (e) {
        if (e instanceof HoldsError && !(e instanceof Closed)) return undefined; // the call reports it
        throw e;
      }
      if (this.keys.size >= KEY_CACHE) this.keys.clear();
      this.keys.set(file, key);
    }
    return this.hub.replicaEntry(key);
  }

  /**
   * Place or renew a hold on `file` (absolute; it is cleaned), or on a pattern:
   * a directory ending in `/` (every path beneath it) or a glob (`*`, `?`,
   * `**`, `[...]`). Vacant -> created; the same agent's -> renewed; another
   * agent's that expired strictly before now -> taken over; otherwise
   * HeldByAnother (with the holder's claim), or HeldByOthers naming every
   * conflicting holder (a pattern's or a shared hold's refusal).
   * `ttl`: '30s', a BigInt of ns, or a number of ms. `mode`: 'exclusive'
   * (default) or 'shared' (other shared holds may cover the same paths).
   */
  async announce(file, agent, ttl, { checkout = '', mode } = {}) {
    const ns = ttlNanos(ttl);
    const how = modeOf(mode);
    this.checkOpen();
    const observed = await this.hint(file);
    return this.guest('announce', [file, agent, ns, checkout, how, this.ttlMax, observed]);
  }

  /**
   * Claim every file or none (bones' coord semantics): the files are cleaned,
   * deduplicated and taken in sorted order, at most `maxClaimFiles`; each is
   * decided as announce decides. On any refusal nothing stays held and
   * HeldByOthers names every holder. One atomic write where the store can
   * (memory; a JetStream bucket with atomic batches), else announced one by
   * one with revision-gated rollback. Files may be patterns; every hold takes
   * `mode` (as announce). Returns `{ claims, atomic }`.
   */
  async claim(files, agent, ttl, { checkout = '', mode } = {}) {
    const ns = ttlNanos(ttl);
    const how = modeOf(mode);
    this.checkOpen();
    const list = [...files];
    const observed = await Promise.all(list.map((f) => this.hint(f)));
    const hinted = observed.some((e) => e !== undefined) ? observed : [];
    return this.guest('claimFiles', [list, agent, ns, checkout, how, this.ttlMax, this.maxClaimFiles, hinted]);
  }

  /** Renew the hold `agent` wrote on `file` at `revision` (a lease's renewal):
   * written only over that revision, so a hold released, force-released,
   * expired or taken over meanwhile is never re-taken (Lost). `mode`: the
   * hold's (as announced). */
  async renew(file, agent, ttl, revision, { checkout = '', mode } = {}) {
    const ns = ttlNanos(ttl);
    const how = modeOf(mode);
    return this.guest('renew', [file, agent, ns, checkout, how, BigInt(revision), this.ttlMax]);
  }

  /** Does `agent` hold every file live, at these fencing tokens if given (one
   * per file)? One fresh read of all the files. Returns `[{ file, state,
   * claim }]` with state 'held', 'tokenMoved', 'heldByAnother' (any hold of
   * another agent covers it), 'shared' (only the agent's own shared holds cover
   * it: nobody may change it) or 'vacant'. Each file is judged by every hold
   * that covers it (see holders). */
  async check(files, agent, tokens = []) {
    const all = [...files];
    const marks = tokens.map((t) => BigInt(t));
    if (all.length === 0 || (marks.length > 0 && marks.length !== all.length)) {
      // One guest call, which judges the empty or mismatched list.
      return this.guest('checkFiles', [all, agent, marks]);
    }
    // A bounded batch per guest call keeps thousands of files far below its fuel.
    const checks = [];
    for (const [start, end] of batches(all)) {
      checks.push(...(await this.guest('checkFiles', [all.slice(start, end), agent, marks.slice(start, end)])));
    }
    return checks;
  }

  /** Remove whoever's live hold on `file` (an operator's tool), gated on the
   * revision judged; subscribers see `released` with `forcedBy`. */
  async forceRelease(file, by) {
    this.checkOpen();
    const observed = await this.hint(file);
    return this.guest('forceRelease', [file, by, observed]);
  }

  /** Remove `agent`'s live hold on `file`: `{ released: true, revision }`, or
   * `{ released: false }` for a missing, expired or another agent's hold. */
  async release(file, agent) {
    this.checkOpen();
    const observed = await this.hint(file);
    return this.guest('release', [file, agent, observed]);
  }

  /** The live hold on `file` (a Claim), read fresh; undefined when nobody holds it. */
  async whoHas(file) {
    return this.guest('whoHas', [file, undefined]);
  }

  /** Every live hold that covers `file` (an absolute path), read fresh: its
   * exclusive hold, its shared holds, and each directory and glob hold over it,
   * oldest revision first (Claim[], empty when nobody holds it). */
  async holders(file) {
    return this.guest('covering', [file]);
  }

  /** The store key of `file` (Go-compatible where Go's keys are valid). */
  async keyForFile(file) {
    return this.guest('keyForFile', [file]);
  }

  /**
   * Name `paths` as holds keys them, wherever they are seen from: relative
   * paths start at `cwd` (default: the working directory); symlinks are resolved
   * for the longest existing prefix; a path under `checkout` is named under
   * `workspace` (both set, for checkouts git does not link); otherwise a path in
   * a git worktree is named under the repository's main worktree, so agents in
   * different worktrees contend for one key. Returns `[{ file, checkout }]`:
   * each file's path and the checkout it was seen through. Reads the filesystem only.
   */
  async identify(paths, { cwd = process.cwd(), workspace = '', checkout = '' } = {}) {
    this.checkOpen();
    const named = [];
    // A bounded batch per guest call keeps each call far below its fuel.
    for (const [start, end] of batches(paths)) {
      named.push(...(await this.guest('identify', [paths.slice(start, end), cwd, workspace, checkout])));
    }
    return named;
  }

  /** The file a store key names (InvalidInput for a key holds would not write). */
  async fileForKey(key) {
    return this.guest('fileForKey', [key]);
  }

  /** Every live hold, oldest revision first, from a fresh replay of the bucket. */
  async list() {
    this.checkOpen();
    const abort = new AbortController();
    const current = [];
    const limit = this.opTimeoutMs * 2;
    const timer = setTimeout(() => abort.abort(), limit);
    let caughtUp = false;
    try {
      for await (const item of this.store.watch({ signal: abort.signal })) {
        if (item === CAUGHT_UP) {
          caughtUp = true;
          break;
        }
        if (item[1].operation === 'put') current.push(item);
      }
    } catch (e) {
      throw new StoreError(`listing the bucket: ${e.message}`);
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    if (!caughtUp) throw new StoreError(`listing the bucket took over ${limit} ms`);
    const meanings = await this.guest(
      'interpret',
      current.map(([key, entry]) => [key, entry, undefined, true]),
    );
    return meanings
      .map((m) => m.event)
      .filter((e) => e?.kind === 'announced')
      .map((e) => ({ file: e.file, scope: e.scope, hold: e.hold, revision: e.revision }))
      .sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  }

  /** Current holds as `announced` events, then live changes (see Subscription). */
  async subscribe() {
    this.checkOpen();
    return this.hub.subscribe();
  }

  /** Check the bucket answers (a read of the never-written `_probe` key). */
  async probe() {
    this.checkOpen();
    try {
      await this.store.get('_probe');
    } catch (e) {
      throw new StoreError(`probe failed: ${e.message}`);
    }
  }

  /** `observer(key, attempt)` runs on every CAS retry (never for a first attempt). */
  setCasRetryObserver(observer) {
    this.pool.observer = observer;
  }

  /** End every subscription; every later call throws Closed. Idempotent. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.hub.close();
      await this.pool.close();
      if (this.ownsStore) await this.store.close();
    } finally {
      // Only now: the workers are unref'd, so with no live handle left the
      // event loop could end while close() still awaits their termination,
      // and code after `await close()` would never run.
      clearInterval(this.alive);
    }
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

export { SharedClock };
