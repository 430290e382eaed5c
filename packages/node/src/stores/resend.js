// When a write the server stored nothing of is sent again: one policy for
// single writes and atomic batches (as the Rust host's kv/jetstream/resend.rs).
import { Unavailable } from './errors.js';

/** Pause (ms) before sending again a write no stream took. */
export const NO_STREAM_BACKOFF_MS = 100;
/**
 * First and longest pause (ms) before a write the leader refused without
 * comparing (10164) is sent again: the write in flight commits within ms.
 */
export const IN_FLIGHT_BACKOFF_MS = [0.25, 16];

/** Why a write stored nothing, so that sending it again is safe. */
export const Unsent = Object.freeze({
  /**
   * No stream answered, or a new leader could not check the expected sequence
   * yet (10163): for a moment after a replicated bucket is created, and while
   * its stream elects a leader.
   */
  NOT_TAKEN: 'not taken',
  /**
   * Refused without comparing while another write to the key is in flight
   * (10164): not a lost race, so it is sent once that write is done.
   */
  NOT_COMPARED: 'not compared',
});

/** One send that stored nothing: why (an `Unsent`), and what the server said. */
export class NotStored {
  constructor(why, detail) {
    this.why = why;
    this.detail = detail;
  }

  /** The error once the operation's time is spent; `what` names the write. */
  gaveUp(what, opTimeoutMs) {
    return new Unavailable(
      this.why === Unsent.NOT_TAKEN
        ? `no stream took ${what} within ${opTimeoutMs} ms: ${this.detail}; nothing was written`
        : `another write to ${what} stayed in flight for ${opTimeoutMs} ms: ${this.detail}; nothing was written`,
    );
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The sends of one write: within the operation's time, after a pause that
 * depends on why the last send stored nothing.
 */
export class Resend {
  constructor(opTimeoutMs, now = performance.now()) {
    this.giveUp = now + opTimeoutMs;
    this.inFlight = IN_FLIGHT_BACKOFF_MS[0];
  }

  /** What is left of the operation's time (ms), at least 50 ms for a send. */
  left() {
    return Math.max(50, this.giveUp - performance.now());
  }

  /** Sleeps before the next send; false (no sleep) when the pause would pass the operation's time. */
  async pause(why) {
    const pause = this.next(why, performance.now());
    if (pause === undefined) return false;
    await sleep(pause);
    return true;
  }

  /** The pause before the send after one at `now`, if it ends in time. */
  next(why, now) {
    const pause = why === Unsent.NOT_TAKEN ? NO_STREAM_BACKOFF_MS : this.inFlight;
    if (now + pause >= this.giveUp) return undefined;
    if (why === Unsent.NOT_COMPARED) this.inFlight = Math.min(this.inFlight * 2, IN_FLIGHT_BACKOFF_MS[1]);
    return pause;
  }
}

/**
 * Sends a write with `send(timeLeftMs)` until a send stores it, within
 * `opTimeoutMs` (the pauses are `Resend`'s); `what` names the write in the
 * error. `send` is one send: its result, a `NotStored`, or a throw not to retry.
 */
export async function untilStored(opTimeoutMs, what, send) {
  const resend = new Resend(opTimeoutMs);
  for (;;) {
    const sent = await send(resend.left());
    if (!(sent instanceof NotStored)) return sent;
    if (!(await resend.pause(sent.why))) throw sent.gaveUp(what, opTimeoutMs);
  }
}
