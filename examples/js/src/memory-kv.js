// An in-memory revisioned bucket with the semantics of JetStream KV (history 1),
// as the `holds:core/kv@0.2.0` import expects:
//
// - one increasing revision sequence for the whole bucket: every successful write
//   or delete takes the next number;
// - a key's latest entry is all that is kept (history 1);
// - removing a key leaves a marker entry (operation `delete`, `purge` or `expire`;
//   its value is the guest's note, e.g. who forced a release) with its own revision;
// - `writeBatch` writes every entry or none, as one step;
// - `writeIfRevision` / `deleteIfRevision` succeed only if the key's latest
//   revision (a marker's included) equals `expected`, 0 meaning "no entry at all";
//   otherwise they change nothing and fail with `wrong-revision`.
//
// TTLs are recorded but not enforced: a store that cannot expire entries on its
// own ignores them, and the guest judges expiry from the hold itself.

/**
 * A failure of a kv import. jco lowers a thrown error that has an own `payload`
 * property as the `err` case of the import's `result`, with `payload` as the
 * `kv-error` variant (`{ tag: 'wrong-revision' }` or
 * `{ tag: 'unavailable', val: message }`). Any other thrown Error aborts the call.
 */
export class KvFailure extends Error {
  constructor(payload) {
    super(payload.tag === 'unavailable' ? `kv unavailable: ${payload.val}` : `kv ${payload.tag}`);
    this.name = 'KvFailure';
    Object.defineProperty(this, 'payload', { value: payload, enumerable: true });
  }
}

export const wrongRevision = () => new KvFailure({ tag: 'wrong-revision' });
export const unavailable = (why) => new KvFailure({ tag: 'unavailable', val: why });

const EMPTY = new Uint8Array(0);

/** The entry of a key that has none: `found: false`, every other field zero. */
export const MISSING = Object.freeze({ found: false, value: EMPTY, revision: 0n, operation: 'put' });

export class MemoryKv {
  #seq = 0n;
  /** key -> { value: Uint8Array, revision: bigint, operation } */
  #entries = new Map();
  /** op -> queue of one-shot functions run before the op (see `interpose`). */
  #interposers = new Map();

  /** Every import call, in order, for assertions: `{ op, key, ... }`. */
  calls = [];
  /** key -> the `ttl-seconds` of the last successful write (recorded, not enforced). */
  ttlSeconds = new Map();

  // ---- the imports -------------------------------------------------------

  /** `get(key) -> result<entry, kv-error>`: the latest entry, markers included. */
  get(key) {
    this.calls.push({ op: 'get', key });
    this.#interpose('get', key);
    return this.entry(key);
  }

  /** `write-if-revision(key, value, expected, ttl-seconds) -> result<u64, kv-error>` */
  writeIfRevision(key, value, expected, ttlSeconds) {
    this.calls.push({ op: 'writeIfRevision', key, expected, ttlSeconds });
    this.#interpose('writeIfRevision', key);
    this.#check(key, expected);
    const revision = this.#store(key, Uint8Array.from(value), 'put');
    this.ttlSeconds.set(key, ttlSeconds);
    return revision;
  }

  /**
   * `delete-if-revision(key, expected, why, note) -> result<u64, kv-error>`: leaves a
   * `delete` marker for `released`, an `expire` marker for `expired`, with `note`
   * as its value.
   */
  deleteIfRevision(key, expected, why, note = EMPTY) {
    this.calls.push({ op: 'deleteIfRevision', key, expected, why });
    this.#interpose('deleteIfRevision', key);
    this.#check(key, expected);
    const operation = { released: 'delete', expired: 'expire' }[why];
    if (!operation) throw new TypeError(`unknown removal ${why}`);
    return this.#store(key, Uint8Array.from(note), operation);
  }

  /** `get-many(keys) -> result<list<entry>, kv-error>`: the latest entries, in order. */
  getMany(keys) {
    this.calls.push({ op: 'getMany', keys: [...keys] });
    this.#interpose('getMany', keys[0]);
    return keys.map((key) => this.entry(key));
  }

  /**
   * `write-batch(writes) -> result<list<u64>, kv-error>`: every write only if every
   * key's latest revision is its `expected`; all or none.
   */
  writeBatch(writes) {
    this.calls.push({ op: 'writeBatch', keys: writes.map((w) => w.key) });
    this.#interpose('writeBatch', writes[0]?.key);
    for (const w of writes) this.#check(w.key, w.expected);
    return writes.map((w) => {
      this.ttlSeconds.set(w.key, w.ttlSeconds);
      return this.#store(w.key, Uint8Array.from(w.value), 'put');
    });
  }

  /** The object to pass as the `holds:core/kv@0.2.0` import. */
  imports() {
    return {
      get: (key) => this.get(key),
      writeIfRevision: (key, value, expected, ttlSeconds) =>
        this.writeIfRevision(key, value, expected, ttlSeconds),
      deleteIfRevision: (key, expected, why, note) =>
        this.deleteIfRevision(key, expected, why, note),
      getMany: (keys) => this.getMany(keys),
      writeBatch: (writes) => this.writeBatch(writes),
    };
  }

  // ---- what other clients of the bucket can do (unconditional) ----------

  /** A plain put, as another client's write. Returns its revision. */
  put(key, value) {
    return this.#store(key, Uint8Array.from(value), 'put');
  }

  /** A plain delete / purge / expiry marker, as another client or the store. */
  remove(key, operation = 'delete') {
    return this.#store(key, EMPTY, operation);
  }

  // ---- inspection and fault injection ------------------------------------

  /** The latest entry of `key`, without logging a call. */
  entry(key) {
    const e = this.#entries.get(key);
    if (!e) return { ...MISSING, value: EMPTY };
    return { found: true, value: Uint8Array.from(e.value), revision: e.revision, operation: e.operation };
  }

  /** The bucket's last revision. */
  get lastRevision() {
    return this.#seq;
  }

  /**
   * Run `fn(key)` once, just before the next call of `op` ('get',
   * 'writeIfRevision', 'deleteIfRevision', 'getMany' or 'writeBatch') does anything. `fn` may change the
   * bucket (a racing client) or throw a KvFailure (a failing store).
   */
  interpose(op, fn) {
    if (!this.#interposers.has(op)) this.#interposers.set(op, []);
    this.#interposers.get(op).push(fn);
  }

  /** Make the next call of `op` fail with `failure` (a KvFailure) and change nothing. */
  failNext(op, failure) {
    this.interpose(op, () => {
      throw failure;
    });
  }

  #interpose(op, key) {
    const fn = this.#interposers.get(op)?.shift();
    if (fn) fn(key);
  }

  #check(key, expected) {
    if (typeof expected !== 'bigint') throw new TypeError('expected must be a bigint');
    const latest = this.#entries.get(key)?.revision ?? 0n;
    if (latest !== expected) throw wrongRevision();
  }

  #store(key, value, operation) {
    this.#seq += 1n;
    this.#entries.set(key, { value, revision: this.#seq, operation });
    return this.#seq;
  }
}
