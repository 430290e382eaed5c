// Component workers, seen from the main thread: compile the component once,
// start `size` workers (each with its own instance and bridge), hand calls to
// idle ones, and answer their imports from the store.
import { readFileSync } from 'node:fs';
import { MessageChannel, Worker } from 'node:worker_threads';
import { instantiate } from '../generated/holds.js';
import { serveRequests } from './bridge.js';
import { SharedClock } from './clock.js';
import { Closed, GuestError, StoreError } from './errors.js';
import { callExport, errorFromWit, importObject, kvError, SCAN_FRESH, unavailable } from './wit.js';

const GENERATED = new URL('../generated/', import.meta.url);
const CORE_MODULES = ['holds.core.wasm', 'holds.core2.wasm', 'holds.core3.wasm'];
let compiled;

/** The component's core modules, compiled once per process (shared by every worker). */
export function coreModules() {
  compiled ??= Object.fromEntries(
    CORE_MODULES.map((name) => [name, new WebAssembly.Module(readFileSync(new URL(name, GENERATED)))]),
  );
  return compiled;
}

let markers;

/**
 * The component's marker-headers table (how a JetStream message's headers name
 * its operation), asked once per process of an instance on this thread: the
 * export reads no store, so it needs no worker.
 */
export function markerHeaders() {
  markers ??= instantiate((name) => coreModules()[name], noImports()).then((root) =>
    callExport(root, 'markerHeaders', []),
  );
  return markers;
}

/** Imports for an instance whose calls use none (any use traps the call). */
function noImports() {
  const none = () => {
    throw new Error('this instance serves no import');
  };
  const kv = { get: none, writeIfRevision: none, deleteIfRevision: none, getMany: none, writeBatch: none, scan: none };
  return importObject({ kv, now: none, pause: none, casRetry: none });
}

export class InstancePool {
  /**
   * `store`: get / writeIfRevision / deleteIfRevision / getMany / writeBatch /
   * scan (async or not), throwing WrongRevision / NotStored / Unavailable /
   * Unsupported. `clock`: a SharedClock (read by workers directly) or any
   * `{ now() }`. `opTimeoutMs` bounds each store request, and is how long a
   * call's writes may be sent again while the store takes nothing of them.
   * `view(prefix, through)`, if set: the manager's replica answering a scan
   * (`[{ key, entry }]`), or undefined when it cannot (the store is read).
   */
  constructor({ store, clock, size = 2, opTimeoutMs = 5000, callTimeoutMs }) {
    this.store = store;
    this.clock = clock;
    this.opTimeoutMs = opTimeoutMs;
    this.callTimeoutMs = callTimeoutMs ?? opTimeoutMs * 17 + 1000;
    this.observer = undefined;
    this.view = undefined;
    this.idle = [];
    this.waiting = [];
    this.workers = new Set();
    this.closed = false;
    this.traps = 0;
    this.starting = Promise.all(Array.from({ length: size }, () => this.spawn()));
  }

  async spawn() {
    const channel = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    const shared = this.clock instanceof SharedClock ? this.clock.shared : undefined;
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: {
        modules: coreModules(),
        io: channel.port1,
        flag,
        clock: shared,
        timeoutMs: this.opTimeoutMs + 1000,
        opTimeoutMs: this.opTimeoutMs,
      },
      transferList: [channel.port1],
    });
    const slot = { worker, io: channel.port2, pending: undefined };
    serveRequests(channel.port2, flag, (request) => this.serveImport(request));
    worker.on('message', (reply) => this.onReply(slot, reply));
    worker.on('error', (e) => this.onExit(slot, e));
    worker.on('exit', (code) => this.onExit(slot, new Error(`worker exited with ${code}`)));
    await new Promise((resolve, reject) => {
      slot.ready = resolve;
      slot.failed = reject;
    });
    this.workers.add(slot);
    this.release(slot);
  }

  async serveImport(request) {
    try {
      switch (request.op) {
        case 'get':
          return { ok: await this.store.get(request.key) };
        case 'write':
          return {
            ok: await this.store.writeIfRevision(request.key, request.value, request.expected, request.ttlSeconds),
          };
        case 'delete':
          return { ok: await this.store.deleteIfRevision(request.key, request.expected, request.why, request.note) };
        case 'getMany':
          return { ok: await this.store.getMany(request.keys) };
        case 'writeBatch':
          return { ok: await this.store.writeBatch(request.writes) };
        case 'scan': {
          const { prefix, through } = request;
          const viewed = through !== SCAN_FRESH ? this.view?.(prefix, through) : undefined;
          // Answered from the replica: nothing learnt for it.
          if (viewed) return { ok: viewed, viewed: true };
          return { ok: await this.store.scan(prefix, through) };
        }
        case 'now':
          return { ok: BigInt(this.clock.now()) };
        case 'casRetry':
          this.observer?.(request.key, request.attempt);
          return undefined;
        default:
          return { err: unavailable(`unknown import request ${request.op}`) };
      }
    } catch (e) {
      return { err: kvError(e) };
    }
  }

  onReply(slot, reply) {
    if (reply.ready) {
      slot.worker.unref();
      slot.io.unref();
      return slot.ready();
    }
    const pending = slot.pending;
    if (!pending || pending.id !== reply.id) return;
    clearTimeout(pending.timer);
    slot.pending = undefined;
    if (reply.trap !== undefined) {
      this.traps += 1;
      pending.reject(new GuestError(`the component trapped: ${reply.trap}`));
    } else if (reply.error !== undefined) {
      pending.reject(Object.assign(errorFromWit(reply.error), { learnt: reply.learnt }));
    } else {
      pending.resolve({ value: reply.ok, learnt: reply.learnt });
    }
    this.release(slot);
  }

  onExit(slot, error) {
    if (!slot.pending && !this.workers.has(slot)) return slot.failed?.(error);
    this.workers.delete(slot);
    this.idle = this.idle.filter((s) => s !== slot);
    if (slot.pending) {
      clearTimeout(slot.pending.timer);
      slot.pending.reject(this.closed ? new Closed() : new GuestError(`the component worker died: ${error.message}`));
      slot.pending = undefined;
    }
    if (!this.closed) this.spawn().catch(() => {});
  }

  release(slot) {
    slot.worker.unref();
    const next = this.waiting.shift();
    if (next) this.dispatch(slot, next);
    else this.idle.push(slot);
  }

  dispatch(slot, job) {
    slot.worker.ref(); // keep the process alive while a call is in flight
    const id = (this.nextId = (this.nextId ?? 0) + 1);
    slot.pending = {
      id,
      resolve: job.resolve,
      reject: job.reject,
      timer: setTimeout(() => {
        // A worker stuck past every store timeout: replace it.
        job.reject(new StoreError(`the call took over ${this.callTimeoutMs} ms`));
        slot.pending = undefined;
        slot.worker.terminate();
      }, this.callTimeoutMs),
    };
    slot.worker.postMessage({ id, op: job.op, args: job.args });
  }

  /** Run export `op(args)` on some worker: `{ value, learnt }`, or throws a HoldsError. */
  call(op, args) {
    if (this.closed) return Promise.reject(new Closed());
    return new Promise((resolve, reject) => {
      const job = { op, args, resolve, reject };
      const slot = this.idle.pop();
      if (slot) this.dispatch(slot, job);
      else this.waiting.push(job);
    });
  }

  async close() {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Closed());
    await Promise.allSettled([...this.workers].map((slot) => slot.worker.terminate()));
    this.workers.clear();
    this.idle = [];
  }
}
