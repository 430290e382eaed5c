// An in-process bucket with JetStream KV semantics (history 1).
import { wallNanos } from '../clock.js';
import { CAUGHT_UP, Unavailable, WrongRevision } from './errors.js';

const EMPTY = new Uint8Array(0);
const missing = () => ({ found: false, value: EMPTY, revision: 0n, operation: 'put' });

/**
 * One revision sequence for the bucket, the latest entry per key, markers for
 * removals, entries older than `maxAge` (ns; 0n: never) removed without a
 * marker. It never expires entries by TTL: watching managers sweep. Shared by
 * any number of managers in one process.
 */
export class MemoryStore {
  expiresEntries = false;

  constructor({ maxAge = 0n, name = 'memory' } = {}) {
    this.maxAge = BigInt(maxAge);
    this.name = name;
    this.sequence = 0n;
    this.entries = new Map();
    this.watchers = new Set();
    this.failure = undefined;
  }

  describe() {
    return `in-memory bucket ${this.name}`;
  }

  // -- the kv import -----------------------------------------------------------

  get(key) {
    this.check();
    return this.latest(key);
  }

  writeIfRevision(key, value, expected, _ttlSeconds) {
    this.check();
    if (this.latest(key).revision !== BigInt(expected)) throw new WrongRevision(key);
    return this.append(key, Uint8Array.from(value), 'put');
  }

  deleteIfRevision(key, expected, why, note = EMPTY) {
    this.check();
    if (this.latest(key).revision !== BigInt(expected)) throw new WrongRevision(key);
    return this.append(key, Uint8Array.from(note), why === 'expired' ? 'expire' : 'delete');
  }

  getMany(keys) {
    this.check();
    return keys.map((key) => this.latest(key));
  }

  /** All or nothing in one synchronous step: every expectation is checked
   * before anything is written. */
  writeBatch(writes) {
    this.check();
    if (new Set(writes.map((w) => w.key)).size !== writes.length) throw new WrongRevision(writes[0].key);
    for (const w of writes) {
      if (this.latest(w.key).revision !== BigInt(w.expected)) throw new WrongRevision(w.key);
    }
    return writes.map((w) => this.append(w.key, Uint8Array.from(w.value), 'put'));
  }

  /** `[{ key, entry }]`: the latest entry of every key that starts with `prefix`
   * and holds a value (markers and aged-out keys left out). The store itself is
   * the newest view, so any `through` is met. */
  scan(prefix, _through) {
    this.check();
    const found = [];
    for (const key of [...this.entries.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const entry = this.latest(key);
      if (entry.found && entry.operation === 'put') found.push({ key, entry });
    }
    return found;
  }

  // -- other clients, faults ------------------------------------------------------

  /** An unconditional write, as another client would make it. */
  put(key, value) {
    return this.append(key, Uint8Array.from(value), 'put');
  }

  /** An unconditional marker (another client's delete or purge). */
  remove(key, operation = 'delete') {
    return this.append(key, EMPTY, operation);
  }

  /** Make every kv call fail with `message` (undefined: answer again). */
  setUnavailable(message) {
    this.failure = message;
  }

  // -- the watch ----------------------------------------------------------------------

  /** Every entry, CAUGHT_UP, then live changes, until `signal` aborts. */
  async *watch({ signal } = {}) {
    for (const key of [...this.entries.keys()]) this.latest(key);
    const current = [...this.entries].sort((a, b) => (a[1].revision < b[1].revision ? -1 : 1));
    const queue = [];
    let wake;
    const watcher = (item) => {
      queue.push(item);
      wake?.();
    };
    this.watchers.add(watcher);
    const stop = () => wake?.();
    signal?.addEventListener('abort', stop);
    try {
      for (const item of current) yield item;
      yield CAUGHT_UP;
      while (!signal?.aborted) {
        while (queue.length) yield queue.shift();
        if (signal?.aborted) break;
        await new Promise((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      this.watchers.delete(watcher);
    }
  }

  async close() {}

  // -- internals ----------------------------------------------------------------------

  check() {
    if (this.failure !== undefined) throw new Unavailable(this.failure);
  }

  latest(key) {
    const entry = this.entries.get(key);
    if (!entry) return missing();
    if (this.maxAge && wallNanos() - entry.created > this.maxAge) {
      this.entries.delete(key);
      return missing();
    }
    return entry;
  }

  append(key, value, operation) {
    this.sequence += 1n;
    const entry = { found: true, value, revision: this.sequence, operation, created: wallNanos() };
    this.entries.set(key, entry);
    for (const watcher of this.watchers) watcher([key, entry]);
    return this.sequence;
  }
}
