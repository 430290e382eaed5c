// The sync/async bridge between a component worker and the main thread.
//
// jco's imports are synchronous on Node 20 (no JSPI), the NATS client is async.
// The component runs in a worker thread; when an import needs the store, the
// worker posts the request on a MessagePort and blocks in Atomics.wait on a
// shared flag. The main thread (where the store and its connection live) does
// the async work, posts the answer on the port and flips the flag with
// Atomics.notify; the woken worker takes the answer off the port with
// receiveMessageOnPort. Values cross by structured clone (BigInt and
// Uint8Array included); requests carry ids, so a late answer to a request that
// timed out is recognised and dropped.
//
// Deadlock guards: the main thread never blocks (it only awaits), the worker
// never waits without a deadline, and the worker never calls back into itself.
import { receiveMessageOnPort } from 'node:worker_threads';

/** The worker's side: one synchronous request at a time. */
export class SyncRequester {
  constructor(port, flagBuffer, timeoutMs) {
    this.port = port;
    this.flag = new Int32Array(flagBuffer);
    this.timeoutMs = timeoutMs;
    this.next = 1;
  }

  /** Send `body` and wait for its answer; returns `{ ok }` or `{ err }`, or throws on timeout. */
  request(body) {
    const id = this.next++;
    const deadline = performance.now() + this.timeoutMs;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ id, ...body });
    for (;;) {
      const answer = this.take(id);
      if (answer) return answer;
      Atomics.store(this.flag, 0, 0);
      // An answer posted between take() and the reset has set the flag again,
      // or is on the port now: look once more before sleeping.
      const again = this.take(id);
      if (again) return again;
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(this.flag, 0, 0, left) === 'timed-out') {
        const late = this.take(id);
        if (late) return late;
        throw new BridgeTimeout(`no answer from the main thread within ${this.timeoutMs} ms`);
      }
    }
  }

  take(id) {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      if (m.message.id === id) return m.message;
      // An answer to an earlier request that timed out: drop it.
    }
    return undefined;
  }
}

export class BridgeTimeout extends Error {}

/** The main thread's side: answer each request with `serve(body)` (async);
 * `undefined` from serve means a notification that needs no answer. */
export function serveRequests(port, flagBuffer, serve) {
  const flag = new Int32Array(flagBuffer);
  port.on('message', async (request) => {
    let answer;
    try {
      answer = await serve(request);
    } catch (e) {
      answer = { err: { tag: 'unavailable', val: `host failure: ${e?.message ?? e}` } };
    }
    if (answer === undefined) return;
    port.postMessage({ id: request.id, ...answer });
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
}
