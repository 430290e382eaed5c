// The manager's watcher: one watch over the bucket, a replica of every key's
// latest entry, fan-out of events to subscriptions, and expiry sweeps for
// stores that do not expire entries themselves. Each change is interpreted by
// the component once (with the key's previous entry from the replica), then
// applied to the replica and fanned out in one synchronous step, so a
// subscription's snapshot and its live events never overlap or leave a gap.
// How the replica is kept and sweeps run is the component's `upkeep` plan.
// The replica also answers the component's scans once the watch has delivered
// every change they must see (`scanView`).
// Mirrors the Rust host's hub.rs.
import { wallNanos } from './clock.js';
import { Closed, HoldsError, StoreError } from './errors.js';
import { Replica } from './replica.js';
import { CAUGHT_UP } from './stores/errors.js';
import { Subscription } from './subscription.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref?.());

/** ns (a BigInt) as ms for a timer. */
const ms = (ns) => Number(ns) / 1e6;

export class Hub {
  constructor({ store, pool, clock, chanBuffer, startTimeoutMs, log }) {
    this.store = store;
    // The component's `upkeep` plan for the store's max age (jco's shape: ns as
    // BigInt), set by the manager before the watcher first runs.
    this.upkeep = undefined;
    this.pool = pool;
    this.clock = clock;
    this.chanBuffer = chanBuffer;
    this.startTimeoutMs = startTimeoutMs;
    this.log = log;
    this.phase = 'idle'; // idle | starting | ready | failed | closed
    this.failure = undefined;
    this.replica = new Replica();
    this.subscribers = new Set();
    this.waiters = new Set();
    this.sweeps = new Map(); // key -> { at, observed }
    this.sweepTimer = undefined;
    this.sweeping = 0;
    this.abort = undefined;
  }

  // -- lifecycle -------------------------------------------------------------------

  setPhase(phase, failure) {
    this.phase = phase;
    this.failure = failure;
    for (const wake of this.waiters) wake();
  }

  waitFor(predicate, timeoutMs) {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer;
      const check = () => {
        if (predicate()) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(true);
        }
      };
      this.waiters.add(check);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters.delete(check);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /** Start the watcher if needed and wait until it has replayed the bucket. */
  async ensureRunning() {
    if (this.phase === 'closed') throw new Closed();
    if (this.phase === 'idle' || this.phase === 'failed') {
      this.phase = 'starting';
      this.replica.clear();
      this.run();
    }
    const done = await this.waitFor(() => this.phase !== 'starting', this.startTimeoutMs);
    if (!done) throw new StoreError(`the watch did not replay the bucket within ${this.startTimeoutMs} ms`);
    if (this.phase === 'ready') return;
    if (this.phase === 'failed') throw this.failure;
    throw new Closed();
  }

  /** Keep the watcher (and so the replica) running until the hub closes. */
  async keepWarm() {
    for (;;) {
      try {
        await this.ensureRunning();
      } catch (e) {
        if (e instanceof Closed) return;
      }
      await this.waitFor(() => this.phase === 'failed' || this.phase === 'closed');
      if (this.phase === 'closed') return;
      await sleep(ms(this.upkeep.restartAfter));
    }
  }

  close() {
    const wasRunning = this.phase !== 'idle';
    this.setPhase('closed');
    for (const sub of this.subscribers) sub.finish();
    this.subscribers.clear();
    this.replica.clear();
    clearTimeout(this.sweepTimer);
    this.sweeps.clear();
    if (wasRunning) this.abort?.abort();
  }

  fail(error) {
    if (this.phase === 'closed') return;
    if (String(error) !== String(this.failure)) this.log?.(`holds watcher stopped: ${error.message}`);
    for (const sub of this.subscribers) sub.finish(error);
    this.subscribers.clear();
    this.replica.clear();
    this.setPhase('failed', error);
  }

  // -- subscriptions ------------------------------------------------------------------

  async subscribe() {
    await this.ensureRunning();
    const sub = new Subscription(this.chanBuffer, (s) => this.subscribers.delete(s));
    // Registered and snapshotted in one synchronous step: no change between.
    this.subscribers.add(sub);
    const current = this.replica
      .snapshot()
      .filter(([, e]) => e.operation === 'put')
      .sort((a, b) => (a[1].revision < b[1].revision ? -1 : 1));
    try {
      const { value } = await this.pool.call(
        'interpret',
        current.map(([key, entry]) => [key, entry, undefined, true]),
      );
      sub.snapshot.push(...value.map((m) => m.event).filter(Boolean));
    } catch (e) {
      this.subscribers.delete(sub);
      throw e;
    }
    return sub;
  }

  // -- the replica -------------------------------------------------------------------------

  /** The newest entry known for `key` once ready (a not-found entry when none); undefined before. */
  replicaEntry(key) {
    if (this.phase !== 'ready') return undefined;
    return this.replica.newest(key) ?? { found: false, value: new Uint8Array(0), revision: 0n, operation: 'put' };
  }

  /**
   * The component's `scan(prefix, through)` answered from the replica:
   * `[{ key, entry }]`, the newest value entry of every key that starts with
   * `prefix`, once the watch has replayed the bucket and delivered every change
   * up to revision `through`; undefined otherwise (the store is read instead).
   */
  scanView(prefix, through) {
    if (this.phase !== 'ready' || this.replica.delivered < through) return undefined;
    return this.replica.scan(prefix);
  }

  /** Entries this manager's calls read or wrote, ahead of the watch. */
  observeOwn(learnt) {
    if (this.phase !== 'ready' || !learnt) return;
    for (const [key, entry] of learnt) {
      if (entry.found) this.replica.learn(key, { ...entry, created: entry.created ?? wallNanos() });
    }
  }

  // -- the watcher ------------------------------------------------------------------------------

  async run() {
    const sweeping = !this.store.expiresEntries;
    let prune;
    if (this.upkeep.pruneEvery > 0n) {
      prune = setInterval(() => this.prune(), ms(this.upkeep.pruneEvery));
      prune.unref?.();
    }
    let ready = false;
    try {
      this.abort = new AbortController();
      for await (const item of this.store.watch({ signal: this.abort.signal })) {
        if (this.phase === 'closed') return;
        if (item === CAUGHT_UP) {
          ready = true;
          this.setPhase('ready');
          continue;
        }
        await this.apply(item[0], item[1], !ready, sweeping);
      }
      this.fail(new StoreError('the watch ended'));
    } catch (e) {
      this.fail(e instanceof HoldsError ? e : new StoreError(`the watch failed: ${e?.message ?? e}`));
    } finally {
      clearInterval(prune);
    }
  }

  async apply(key, entry, replaying, sweeping) {
    const wanted = (sweeping || this.subscribers.size > 0) && !(replaying && entry.operation !== 'put');
    let meaning;
    let failed;
    if (wanted) {
      const previous = this.replica.previous(key, entry.revision);
      try {
        meaning = (await this.pool.call('interpret', [[key, entry, previous, replaying]])).value[0];
      } catch (e) {
        if (this.phase === 'closed') return;
        failed = e instanceof HoldsError ? e : new StoreError(String(e));
        this.log?.(`interpreting a change of ${key} failed: ${failed.message}`);
      }
      if (meaning?.dropped) this.log?.(`ignoring a change: ${meaning.dropped}`);
    }
    if (this.phase === 'closed') return;
    if (sweeping && meaning) {
      if (meaning.expiryCheckAt !== undefined) this.schedule(key, meaning.expiryCheckAt, entry);
      else this.sweeps.delete(key);
    }
    this.replica.apply(key, entry);
    if (failed && !replaying) {
      // Nobody may miss this change silently: subscribers end with the reason.
      for (const sub of this.subscribers) sub.finish(failed);
      this.subscribers.clear();
      return;
    }
    const event = !replaying ? meaning?.event : undefined;
    if (event) {
      for (const sub of this.subscribers) if (!sub.offer(event)) this.subscribers.delete(sub);
    }
  }

  // -- sweeps -------------------------------------------------------------------------------------

  schedule(key, at, observed) {
    this.sweeps.set(key, { at, observed });
    this.arm();
  }

  arm() {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.phase === 'closed' || this.sweeping >= this.upkeep.concurrentSweeps || !this.sweeps.size) return;
    let next;
    for (const { at } of this.sweeps.values()) if (next === undefined || at < next) next = at;
    const delay = Math.max(0, ms(next - BigInt(this.clock.now())));
    // setTimeout takes at most 2^31 - 1 ms.
    this.sweepTimer = setTimeout(() => this.sweepDue(), Math.min(delay, 2 ** 31 - 1));
    this.sweepTimer.unref?.();
  }

  sweepDue() {
    const now = BigInt(this.clock.now());
    for (const [key, { at, observed }] of this.sweeps) {
      if (this.sweeping >= this.upkeep.concurrentSweeps) break;
      if (at > now) continue;
      this.sweeps.delete(key);
      this.sweeping += 1;
      this.sweep(key, observed).finally(() => {
        this.sweeping -= 1;
        this.arm();
      });
    }
    this.arm();
  }

  async sweep(key, observed) {
    let outcome;
    try {
      outcome = (await this.pool.call('sweep', [key, observed])).value;
    } catch (e) {
      if (this.phase !== 'closed') this.log?.(`sweep of ${key} failed: ${e.message}`);
    }
    // A change since the sweep started rescheduled (or cancelled) the key.
    if (this.phase === 'closed' || this.sweeps.has(key)) return;
    if (!outcome) this.sweeps.set(key, { at: BigInt(this.clock.now()) + this.upkeep.sweepRetry, observed });
    else if (outcome.tag === 'not-due') this.sweeps.set(key, { at: outcome.value, observed });
    // expired / nothing: the marker reaches the replica through the watch.
  }

  // -- pruning -----------------------------------------------------------------------------------------

  /** Drop what the store has aged out, holds and markers each kept as long as
   * the plan says. */
  prune() {
    this.replica.prune(wallNanos(), this.upkeep);
  }
}
