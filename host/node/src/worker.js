// A component worker: one instance of the component, calls one at a time.
// Imports reach the store on the main thread through the bridge, and a `pause`
// blocks this thread; a call that traps discards the instance and the next
// call gets a fresh one.
import { parentPort, workerData } from 'node:worker_threads';
import { instantiate } from '../generated/holds.js';
import { SyncRequester } from './bridge.js';
import { CallPauses, readShared } from './clock.js';
import { callExport, importObject, isExportError, kvFailure, removalOperation, unavailable } from './wit.js';

const { modules, io, flag, clock, timeoutMs, opTimeoutMs } = workerData;
const requester = new SyncRequester(io, flag, timeoutMs);
const clockCells = clock ? new BigInt64Array(clock) : undefined;
const pauses = new CallPauses(opTimeoutMs);

/** Entries the current call's imports learnt (reads and acks), for the replica. */
let learnt = [];

function ask(body) {
  try {
    return requester.request(body);
  } catch (e) {
    return { err: unavailable(e.message) };
  }
}

const kv = {
  get(key) {
    const r = ask({ op: 'get', key });
    if (r.err) throw kvFailure(r.err);
    learnt.push([key, r.ok]);
    return r.ok;
  },
  writeIfRevision(key, value, expected, ttlSeconds) {
    const r = ask({ op: 'write', key, value, expected, ttlSeconds });
    if (r.err) throw kvFailure(r.err);
    learnt.push([key, { found: true, value, revision: r.ok, operation: 'put' }]);
    return r.ok;
  },
  deleteIfRevision(key, expected, why, note) {
    const r = ask({ op: 'delete', key, expected, why, note });
    if (r.err) throw kvFailure(r.err);
    learnt.push([key, { found: true, value: note, revision: r.ok, operation: removalOperation(why) }]);
    return r.ok;
  },
  getMany(keys) {
    const r = ask({ op: 'getMany', keys });
    if (r.err) throw kvFailure(r.err);
    keys.forEach((key, i) => learnt.push([key, r.ok[i]]));
    return r.ok;
  },
  writeBatch(writes) {
    const r = ask({ op: 'writeBatch', writes });
    if (r.err) throw kvFailure(r.err);
    writes.forEach((w, i) =>
      learnt.push([w.key, { found: true, value: w.value, revision: r.ok[i], operation: 'put' }]),
    );
    return r.ok;
  },
  scan(prefix, through) {
    const r = ask({ op: 'scan', prefix, through });
    if (r.err) throw kvFailure(r.err);
    if (!r.viewed) for (const { key, entry } of r.ok) learnt.push([key, entry]);
    return r.ok;
  },
};

function now() {
  if (clockCells) return readShared(clockCells);
  const r = requester.request({ op: 'now' });
  if (r.err) throw new Error(`clock: ${r.err.val}`); // traps the call
  return r.ok;
}

function casRetry(key, attempt) {
  io.postMessage({ id: 0, op: 'casRetry', key, attempt }); // a notification: no answer
}

const imports = importObject({ kv, now, pause: (after) => pauses.pause(after), casRetry });
let root;

async function fresh() {
  root = await instantiate((name) => modules[name], imports);
}

await fresh();

let queue = Promise.resolve();
parentPort.on('message', (request) => {
  queue = queue.then(() => handle(request));
});
parentPort.postMessage({ ready: true });

async function handle({ id, op, args }) {
  learnt = [];
  pauses.begin();
  let reply;
  try {
    reply = { id, ok: callExport(root, op, args), learnt };
  } catch (e) {
    if (isExportError(e)) {
      reply = { id, error: e.payload, learnt };
    } else {
      reply = { id, trap: `${e?.name ?? 'Error'}: ${e?.message ?? e}` };
      await fresh().catch((why) => {
        reply.trap += `; re-instantiating failed too: ${why?.message ?? why}`;
      });
    }
  }
  parentPort.postMessage(reply);
}
