// Clocks the component reads as its `now` (BigInt ns since the Unix epoch, UTC),
// and its `pause`.
//
// The built-in clocks keep their state in a SharedArrayBuffer, so the component
// workers read them without a round trip to the main thread. Any other object
// with a `now()` method works too; workers then ask the main thread.

/** The wall clock in ns (microsecond resolution). */
export function wallNanos() {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** [0] 1 when frozen, [1] the frozen instant, [2] the offset. */
const FROZEN = 0;
const AT = 1;
const OFFSET = 2;

export class SharedClock {
  constructor(shared = new SharedArrayBuffer(24)) {
    this.shared = shared;
    this.cells = new BigInt64Array(shared);
  }

  now() {
    return readShared(this.cells);
  }
}

/** The wall clock. */
export class SystemClock extends SharedClock {}

/** The wall clock shifted by an adjustable offset (an agent whose clock runs ahead). */
export class OffsetClock extends SharedClock {
  constructor(offset = 0n) {
    super();
    Atomics.store(this.cells, OFFSET, BigInt(offset));
  }

  advance(ns) {
    Atomics.add(this.cells, OFFSET, BigInt(ns));
  }

  /** Stand still at `at` (ns) until `unfreeze()`. */
  freeze(at) {
    Atomics.store(this.cells, AT, BigInt(at));
    Atomics.store(this.cells, FROZEN, 1n);
  }

  unfreeze() {
    Atomics.store(this.cells, FROZEN, 0n);
  }
}

/** A clock that stands still at an instant. */
export class FrozenClock extends OffsetClock {
  constructor(at) {
    super();
    this.freeze(at);
  }

  set(at) {
    this.freeze(at);
  }

  advance(ns) {
    Atomics.add(this.cells, AT, BigInt(ns));
  }
}

/** `now` of a shared clock's cells (also used inside workers). */
export function readShared(cells) {
  if (Atomics.load(cells, FROZEN) === 1n) return Atomics.load(cells, AT);
  return wallNanos() + Atomics.load(cells, OFFSET);
}

/**
 * The `clock.pause` import of one component worker, whose thread it blocks (the
 * instance waits for its import anyway). A pause that would end at or past the
 * deadline of the call being served returns false at once.
 */
export class CallPauses {
  constructor(opTimeoutMs) {
    this.opTimeoutMs = opTimeoutMs;
    this.deadline = -Infinity;
    this.cell = new Int32Array(new SharedArrayBuffer(4)); // never notified: only the timeout wakes
  }

  /** A call starts now: its deadline is the operation timeout from here. */
  begin() {
    this.deadline = performance.now() + this.opTimeoutMs;
  }

  /** Wait `after` ns and return true, or return false at once if that passes the deadline. */
  pause(after) {
    const ms = Number(after) / 1e6;
    if (performance.now() + ms >= this.deadline) return false;
    Atomics.wait(this.cell, 0, 0, ms);
    return true;
  }
}
