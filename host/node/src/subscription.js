// A subscription: the current holds, then live events.
import { Lagged } from './errors.js';

const OPEN = Symbol('open');
const DONE = Symbol('done');

/**
 * `for await (const event of subscription)` yields the snapshot (one
 * `announced` event per live hold, oldest revision first), then live changes.
 * It ends when it is closed or the manager closes; it throws Lagged after the
 * subscriber fell more than its buffer behind (the events it had come first),
 * or StoreError when the watch failed.
 */
export class Subscription {
  constructor(buffer, onClose) {
    this.buffer = buffer;
    this.onClose = onClose;
    this.snapshot = [];
    this.live = [];
    this.end = OPEN;
    this.wake = undefined;
  }

  // -- the producer (the hub) ----------------------------------------------------

  /** Queue a live event; false when the subscription is over (or lagged now). */
  offer(event) {
    if (this.end !== OPEN) return false;
    if (this.live.length >= this.buffer) {
      this.end = new Lagged(this.buffer);
      this.notify();
      return false;
    }
    this.live.push(event);
    this.notify();
    return true;
  }

  finish(error) {
    if (this.end === OPEN) {
      this.end = error ?? DONE;
      this.notify();
    }
  }

  notify() {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  // -- the consumer ------------------------------------------------------------------

  /** The snapshot events not yielded yet (they will not be yielded). */
  takeSnapshot() {
    return this.snapshot.splice(0);
  }

  /** The next event; undefined when the subscription ended cleanly. With
   * `timeoutMs`, throws a TimeoutError (name 'TimeoutError') when nothing comes. */
  async next(timeoutMs) {
    const deadline = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
    for (;;) {
      if (this.snapshot.length) return this.snapshot.shift();
      if (this.live.length) return this.live.shift();
      if (this.end === DONE) return undefined;
      if (this.end !== OPEN) {
        const error = this.end;
        this.end = DONE;
        throw error;
      }
      const left = deadline === undefined ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) throw timeoutError(timeoutMs);
      await new Promise((resolve) => {
        this.wake = resolve;
        if (left !== undefined) setTimeout(resolve, left).unref?.();
      });
    }
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const event = await this.next();
      if (event === undefined) return;
      yield event;
    }
  }

  get ended() {
    return this.end !== OPEN && !this.live.length && !this.snapshot.length;
  }

  /** Leave the manager at once; iteration ends after what is queued. */
  close() {
    this.finish();
    this.onClose(this);
  }
}

function timeoutError(ms) {
  const e = new Error(`no event within ${ms} ms`);
  e.name = 'TimeoutError';
  return e;
}
