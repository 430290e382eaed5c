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
  InvalidInput,
  Manager,
  MemoryStore,
  NotStored,
  OffsetClock,
  StoreError,
  toNanos,
  Unavailable,
  WrongRevision,
} from '../src/index.js';
import { InstancePool, markerHeaders } from '../src/pool.js';
import { JetStreamStore, operationOf, refusal } from '../src/stores/jetstream.js';
import { callExport, fileCheck, importObject, kvError, kvFailure, MODES, VERSION } from '../src/wit.js';

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

const enc = (text) => new TextEncoder().encode(text);
const dec = (bytes) => new TextDecoder().decode(bytes);
/** A scan's answer as sorted [key, value, revision] rows. */
const rows = (scanned) =>
  scanned
    .map(({ key, entry }) => [key, dec(entry.value), entry.revision, entry.operation])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));

test('memory store scan: the latest put of every key under the prefix, markers and other keys left out', () => {
  const s = new MemoryStore();
  assert.deepEqual(s.scan('_hx.', 0n), [], 'an empty bucket');
  const a = s.put('_hx.a', enc('a1'));
  const a2 = s.writeIfRevision('_hx.a', enc('a2'), a, 30);
  const b = s.put('_hx.b', enc('b'));
  s.deleteIfRevision('_hx.b', b, 'released');
  const gone = s.put('_hx.gone', enc('x'));
  s.deleteIfRevision('_hx.gone', gone, 'expired');
  s.remove('_hx.purged', 'purge');
  const deep = s.put('_hx.deep.c', enc('c'));
  const near = s.put('_hxnear', enc('n'));
  s.put('=2Fwork=2Fa.txt', enc('file'));
  assert.deepEqual(rows(s.scan('_hx.', a2)), [
    ['_hx.a', 'a2', a2, 'put'],
    ['_hx.deep.c', 'c', deep, 'put'],
  ]);
  assert.deepEqual(
    rows(s.scan('_hx', 0n)).map((r) => r[0]),
    ['_hx.a', '_hx.deep.c', '_hxnear'],
    'a prefix is a prefix of the key, not of its tokens',
  );
  assert.deepEqual(rows(s.scan('_hxnear', 0n)), [['_hxnear', 'n', near, 'put']]);
  assert.equal(s.scan('', 0n).length, 4, 'every key that holds a value');
  assert.deepEqual(s.scan('nowhere.', 0n), []);
  // a marker over a key takes it out; a put over a marker brings it back
  s.deleteIfRevision('_hx.a', a2, 'released');
  assert.deepEqual(
    rows(s.scan('_hx.', 0n)).map((r) => r[0]),
    ['_hx.deep.c'],
  );
  const again = s.writeIfRevision('_hx.b', enc('b2'), s.get('_hx.b').revision, 30);
  assert.deepEqual(rows(s.scan('_hx.b', 0n)), [['_hx.b', 'b2', again, 'put']]);
});

test('memory store scan: aged-out keys are left out, and an unavailable store throws', async () => {
  const s = new MemoryStore({ maxAge: 50_000_000n });
  s.put('_hx.old', enc('old'));
  await new Promise((r) => setTimeout(r, 80));
  const fresh = s.put('_hx.new', enc('new'));
  assert.deepEqual(rows(s.scan('_hx.', fresh)), [['_hx.new', 'new', fresh, 'put']]);
  s.setUnavailable('disk on fire');
  assert.throws(
    () => s.scan('_hx.', 0n),
    (e) => e instanceof Unavailable && /disk on fire/.test(e.message),
  );
});

test('the scan import reaches the store, its failures as kv-errors', async () => {
  const store = new MemoryStore();
  const rev = store.put('_hx.a', enc('a'));
  // The main thread's side of the bridge, without workers.
  const serve = (request) => InstancePool.prototype.serveImport.call({ store }, request);
  const answer = await serve({ op: 'scan', prefix: '_hx.', through: rev });
  assert.deepEqual(rows(answer.ok), [['_hx.a', 'a', rev, 'put']]);
  store.setUnavailable('down');
  assert.deepEqual(await serve({ op: 'scan', prefix: '_hx.', through: 0n }), {
    err: { tag: 'unavailable', val: 'down' },
  });
  // The import object hands the component's call to the host's kv, under both names.
  const calls = [];
  const kv = { scan: (prefix, through) => (calls.push([prefix, through]), [{ key: 'k', entry: {} }]) };
  const imports = importObject({ kv, now() {}, pause() {}, casRetry() {} });
  assert.deepEqual(imports[`holds:core/kv@${VERSION}`].scan('_hx.', 7n), [{ key: 'k', entry: {} }]);
  assert.equal(imports['holds:core/kv'].scan, imports[`holds:core/kv@${VERSION}`].scan);
  assert.deepEqual(calls, [['_hx.', 7n]]);
  assert.equal(VERSION, '0.3.0');
  assert.deepEqual(kvFailure(kvError(new Unavailable('x'))), { payload: { tag: 'unavailable', val: 'x' } });
});

test("a JetStream scan's consumer filters on the prefix's subject only when it ends a token", () => {
  const filterFor = (prefix) => JetStreamStore.prototype.filterFor.call({ prefix: '$KV.b.' }, prefix);
  assert.equal(filterFor('_hx.'), '$KV.b._hx.>');
  assert.equal(filterFor('_hx.deep.'), '$KV.b._hx.deep.>');
  for (const wide of ['', '_hx', '_hx.d', '.', '_hx..', '*.', '>.', 'a b.']) {
    assert.equal(filterFor(wide), '$KV.b.>', JSON.stringify(wide));
  }
});

test('file-state cases map to the check states, shared included', () => {
  const claim = { file: '/w/a', hold: { agentId: 'a' }, revision: 3n };
  const state = (tag, val) => fileCheck({ file: '/w/a', state: { tag, val } });
  assert.deepEqual(state('held', claim), { file: '/w/a', state: 'held', claim });
  assert.deepEqual(state('token-moved', claim), { file: '/w/a', state: 'tokenMoved', claim });
  assert.deepEqual(state('held-by-another', claim), { file: '/w/a', state: 'heldByAnother', claim });
  assert.deepEqual(state('shared', claim), { file: '/w/a', state: 'shared', claim });
  assert.deepEqual(state('vacant'), { file: '/w/a', state: 'vacant', claim: undefined });
  assert.throws(() => state('borrowed', claim), /unknown file-state case borrowed/);
  // and through the export call
  const root = {
    holds: {
      check: (files, agentId, tokens) => {
        assert.deepEqual([files, agentId, [...tokens]], [['/w/a', '/w/b'], 'a', [3n, 0n]]);
        return [
          { file: '/w/a', state: { tag: 'shared', val: claim } },
          { file: '/w/b', state: { tag: 'vacant' } },
        ];
      },
    },
  };
  assert.deepEqual(callExport(root, 'checkFiles', [['/w/a', '/w/b'], 'a', [3n, 0n]]), [
    { file: '/w/a', state: 'shared', claim },
    { file: '/w/b', state: 'vacant', claim: undefined },
  ]);
});

test('export calls carry the mode, and holders is covering', () => {
  const seen = [];
  const record =
    (name) =>
    (...args) => {
      seen.push([name, ...args]);
      return name === 'covering' ? [] : {};
    };
  const root = {
    holds: {
      announce: record('announce'),
      claimFiles: record('claimFiles'),
      renew: record('renew'),
      covering: record('covering'),
    },
  };
  callExport(root, 'announce', ['/w/', 'a', 1n, '/co', 'shared', 9n, undefined]);
  callExport(root, 'claimFiles', [['/w/a'], 'a', 1n, '', 'exclusive', 9n, 16, []]);
  callExport(root, 'renew', ['/w/a', 'a', 1n, '', 'shared', 5n, 9n]);
  assert.deepEqual(callExport(root, 'covering', ['/w/a']), []);
  assert.deepEqual(seen, [
    ['announce', { file: '/w/', agentId: 'a', ttl: 1n, checkoutPath: '/co', mode: 'shared' }, 9n, undefined],
    ['claimFiles', { files: ['/w/a'], agentId: 'a', ttl: 1n, checkoutPath: '', mode: 'exclusive' }, 9n, 16, []],
    ['renew', { file: '/w/a', agentId: 'a', ttl: 1n, checkoutPath: '', mode: 'shared' }, 5n, 9n],
    ['covering', '/w/a'],
  ]);
  assert.deepEqual(MODES, ['exclusive', 'shared']);
});

test('a mode other than exclusive or shared is InvalidInput, and nothing is written', async () => {
  const store = new MemoryStore();
  const m = await Manager.open(store, { ttlMax: '60s', replica: false });
  try {
    const refused = (e) => e instanceof InvalidInput && e.field === 'mode' && /'exclusive', 'shared'/.test(e.reason);
    for (const mode of ['Shared', 'read', '', null, 0, true, {}]) {
      await assert.rejects(m.announce('/w/a', 'a', '30s', { mode }), refused, `announce ${String(mode)}`);
      await assert.rejects(m.claim(['/w/a'], 'a', '30s', { mode }), refused, `claim ${String(mode)}`);
      await assert.rejects(m.renew('/w/a', 'a', '30s', 1n, { mode }), refused, `renew ${String(mode)}`);
    }
    assert.equal(store.sequence, 0n, 'nothing was written');
  } finally {
    await m.close();
  }
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
