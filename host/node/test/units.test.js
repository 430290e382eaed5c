// Small pieces: durations, clocks and pauses, the memory store, the bundled
// component, the bridge, what a server's answers to a write mean, what a
// message's headers mean.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import { errors, headers } from '@nats-io/nats-core';
import { CallPauses } from '../src/clock.js';
import {
  FrozenClock,
  Manager,
  MemoryStore,
  NotStored,
  OffsetClock,
  StoreError,
  toNanos,
  WrongRevision,
} from '../src/index.js';
import { markerHeaders } from '../src/pool.js';
import { operationOf, refusal } from '../src/stores/jetstream.js';
import { kvError } from '../src/wit.js';

test('durations', () => {
  assert.equal(toNanos('30s'), 30_000_000_000n);
  assert.equal(toNanos('250ms'), 250_000_000n);
  assert.equal(toNanos('1m30s'), 90_000_000_000n);
  assert.equal(toNanos('1.5s'), 1_500_000_000n);
  assert.equal(toNanos('60000000001ns'), 60_000_000_001n);
  assert.equal(toNanos(1500), 1_500_000_000n, 'numbers are milliseconds');
  assert.equal(toNanos(7n), 7n, 'BigInts are nanoseconds');
  assert.equal(toNanos('0s'), 0n);
  for (const bad of ['', '30', '5 parsecs', '-1s', -1, NaN, null, {}]) assert.throws(() => toNanos(bad));
});

test('clocks: offset, frozen', () => {
  const late = new OffsetClock();
  const before = late.now();
  late.advance(2_000_000_000n);
  assert.ok(late.now() - before >= 2_000_000_000n);
  const frozen = new FrozenClock(42n);
  assert.equal(frozen.now(), 42n);
  frozen.advance(1n);
  assert.equal(frozen.now(), 43n);
});

test('memory store semantics', () => {
  const s = new MemoryStore();
  assert.equal(s.get('k').found, false);
  const r1 = s.writeIfRevision('k', new Uint8Array([1]), 0n, 30);
  assert.equal(r1, 1n);
  assert.throws(() => s.writeIfRevision('k', new Uint8Array([2]), 0n, 30), WrongRevision);
  const m = s.deleteIfRevision('k', r1, 'released');
  assert.deepEqual(
    [s.get('k').found, s.get('k').value.length, s.get('k').revision, s.get('k').operation],
    [true, 0, m, 'delete'],
  );
  assert.throws(
    () => s.writeIfRevision('k', new Uint8Array([3]), 0n, 30),
    WrongRevision,
    'over a marker: its revision',
  );
  assert.equal(s.writeIfRevision('k', new Uint8Array([3]), m, 30), m + 1n);
  const x = s.deleteIfRevision('k', m + 1n, 'expired');
  assert.equal(s.get('k').operation, 'expire');
  assert.equal(s.put('other', new Uint8Array([9])), x + 1n, 'one sequence for the bucket');
});

test('memory store ages entries out without a marker', async () => {
  const s = new MemoryStore({ maxAge: 50_000_000n });
  s.writeIfRevision('k', new Uint8Array([1]), 0n, 0);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(s.get('k').found, false);
  assert.equal(s.writeIfRevision('k', new Uint8Array([1]), 0n, 0), 2n);
});

test('the transpiled component is the shipped one, and the same as the Python package ships', () => {
  const digest = (url) => createHash('sha256').update(readFileSync(url)).digest('hex');
  const shipped = digest(new URL('../component/holds.wasm', import.meta.url));
  const recorded = readFileSync(new URL('../generated/component.sha256', import.meta.url), 'utf8').split(/\s/)[0];
  assert.equal(recorded, shipped, 'generated/ is stale: run node scripts/set-component.mjs');
  assert.equal(digest(new URL('../../python/src/holds/holds.wasm', import.meta.url)), shipped);
});

test('a store that is unavailable is a StoreError, and the manager recovers', async () => {
  const store = new MemoryStore();
  const m = await Manager.open(store, { ttlMax: '60s', replica: false });
  try {
    store.setUnavailable('disk on fire');
    await assert.rejects(
      m.announce('/w/a', 'a', '30s'),
      (e) => e instanceof StoreError && /disk on fire/.test(e.message),
    );
    store.setUnavailable(undefined);
    assert.equal((await m.announce('/w/a', 'a', '30s')).revision, 1n);
  } finally {
    await m.close();
  }
});

test('bridge: a request nobody answers times out, and a late answer is dropped', async () => {
  const channel = new MessageChannel();
  const flag = new SharedArrayBuffer(4);
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('../src/bridge.js', import.meta.url).href)}).then(({ SyncRequester }) => {
      const r = new SyncRequester(workerData.port, workerData.flag, 100);
      const out = [];
      try { r.request({ op: 'slow' }); } catch (e) { out.push(e.constructor.name); }
      out.push(r.request({ op: 'fast' }).ok);
      parentPort.postMessage(out);
    });`;
  const worker = new Worker(source, {
    eval: true,
    workerData: { port: channel.port1, flag },
    transferList: [channel.port1],
  });
  const { serveRequests } = await import('../src/bridge.js');
  serveRequests(channel.port2, flag, async (req) => {
    if (req.op === 'slow') await new Promise((r) => setTimeout(r, 300));
    return { ok: req.op };
  });
  const [out] = await Promise.all([new Promise((r) => worker.once('message', r))]);
  await worker.terminate();
  channel.port2.close();
  assert.deepEqual(out, ['BridgeTimeout', 'fast']);
});

test('pause: one that fits the call waits and is true; one that would end at or past its deadline is false at once', () => {
  const pauses = new CallPauses(100);
  assert.equal(pauses.pause(1n), false, 'no call is being served');
  pauses.begin();
  let started = performance.now();
  assert.equal(pauses.pause(30_000_000n), true);
  assert.ok(performance.now() - started >= 29, `waited ${performance.now() - started} ms`);
  started = performance.now();
  assert.equal(pauses.pause(80_000_000n), false, '30 ms + 80 ms passes a 100 ms deadline');
  assert.equal(pauses.pause(100_000_000n), false);
  assert.ok(performance.now() - started < 5, `returned at once: ${performance.now() - started} ms`);
  pauses.begin();
  assert.equal(pauses.pause(80_000_000n), true, 'the next call has its own deadline');
});

test('what a server answer that stored nothing of a write means', () => {
  const noResponders = new errors.NoRespondersError('$KV.b.k');
  const unsent = [
    [{ code: 10164, message: 'wrong last sequence' }, 'busy'],
    [{ code: 10163, message: 'last sequence mismatch not ready' }, 'leader-changing'],
    [{ code: 10059, message: 'stream not found' }, 'no-stream'],
    [Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' }), 'no-stream'],
    [noResponders, 'no-stream'],
    [new errors.RequestError('request failed', { cause: noResponders }), 'no-stream'],
  ];
  for (const [answer, why] of unsent) {
    const e = refusal(answer, 'k');
    assert.ok(e instanceof NotStored, `${answer.message}: ${e}`);
    assert.deepEqual([e.why, e.detail], [why, answer.message]);
    assert.deepEqual(kvError(e), { tag: 'not-stored', val: { why, detail: answer.message } });
  }
  assert.ok(refusal({ code: 10071, message: 'wrong last sequence: 3' }, 'k') instanceof WrongRevision);
  assert.equal(refusal({ code: 10077, message: 'maximum messages exceeded' }, 'k'), undefined);
  assert.equal(refusal(new errors.TimeoutError(), 'k'), undefined);
});

test("a message's headers name its operation by the component's table, first match wins", async () => {
  const rules = await markerHeaders();
  assert.equal(await markerHeaders(), rules, 'asked once');
  const operation = (fields) => {
    const h = headers();
    for (const [name, value] of fields) h.append(name, value);
    return operationOf(h, rules);
  };
  assert.equal(operation([['KV-Operation', 'DEL']]), 'delete');
  assert.equal(
    operation([
      ['KV-Operation', 'DEL'],
      ['Holds-Removal', 'expired'],
    ]),
    'expire',
    "a sweep's delete",
  );
  assert.equal(operation([['KV-Operation', 'PURGE']]), 'purge');
  assert.equal(operation([['Nats-Marker-Reason', 'MaxAge']]), 'expire');
  assert.equal(operation([['Nats-Marker-Reason', 'Remove']]), 'delete');
  assert.equal(operation([['Nats-Marker-Reason', 'Purge']]), 'purge');
  assert.equal(operation([['Nats-Marker-Reason', 'Other']]), 'put');
  assert.equal(operation([['kv-operation', 'DEL']]), 'put', 'header names are exact');
  assert.equal(operation([['Nats-TTL', '30s']]), 'put');
  assert.equal(operationOf(undefined, rules), 'put', 'no headers');
});
