// The replica and the component's scans answered from it: what a view holds
// (the newest value of each key under a prefix, markers left out), when the
// hub may answer (ready, and the watch delivered `through`), and that a manager
// reads the store whenever it may not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual as same } from 'node:util';
import { HeldByOthers, Manager, MemoryStore, StoreError } from '../src/index.js';
import { Hub } from '../src/hub.js';
import { InstancePool } from '../src/pool.js';
import { Replica } from '../src/replica.js';
import { SCAN_FRESH } from '../src/wit.js';

const enc = (text) => new TextEncoder().encode(text);
const dec = (bytes) => new TextDecoder().decode(bytes);
const put = (revision, value = 'v') => ({ found: true, value: enc(value), revision, operation: 'put' });
const marker = (revision, operation = 'delete') => ({ found: true, value: enc(''), revision, operation });
/** A scan's answer as [key, value, revision] rows, in its order. */
const rows = (scanned) => scanned.map(({ key, entry }) => [key, dec(entry.value), entry.revision]);
const keys = (scanned) => scanned.map(({ key }) => key);

test('replica: a scan by prefix has the newest value of each key, markers left out; only the watch moves delivered', () => {
  const r = new Replica();
  r.apply('_hx.b', put(2n, 'b'));
  r.apply('_hx.a', put(4n, 'a'));
  r.apply('_hx.m', put(1n));
  r.apply('_hx.m', marker(3n, 'expire'));
  r.apply('=2Fa', put(5n));
  r.apply('_hxnear', put(6n, 'n'));
  r.learn('_hx.c', put(9n, 'c'));
  r.learn('_hx.a', put(3n, 'older'));
  r.learn('_hx.b', marker(8n));
  assert.deepEqual(
    rows(r.scan('_hx.')),
    [
      ['_hx.a', 'a', 4n],
      ['_hx.c', 'c', 9n],
    ],
    'an older entry learnt is ignored, a newer one (value or marker) wins, markers are left out',
  );
  assert.deepEqual(keys(r.scan('_hx')), ['_hx.a', '_hx.c', '_hxnear'], 'a prefix of the key, not of its tokens');
  assert.deepEqual(keys(r.scan('_hx.c')), ['_hx.c']);
  assert.deepEqual(keys(r.scan('')), ['=2Fa', '_hx.a', '_hx.c', '_hxnear']);
  assert.deepEqual(r.scan('_hx.m'), [], 'a marker only');
  assert.deepEqual(r.scan('nowhere'), []);
  assert.equal(r.delivered, 6n, 'entries learnt ahead do not move it');

  r.apply('_hx.b', marker(8n));
  assert.equal(r.ahead.has('_hx.b'), false, 'the watch caught up with what was learnt');
  r.apply('_hx.a', put(2n, 'late'));
  assert.deepEqual(rows(r.scan('_hx.a')), [['_hx.a', 'a', 4n]], 'the watch never moves a key back');
  assert.equal(r.delivered, 8n, 'nor delivered');
  assert.equal(r.previous('_hx.a', 5n).revision, 4n);
  assert.equal(r.previous('_hx.a', 4n), undefined);

  r.clear();
  assert.deepEqual([r.delivered, r.scan(''), r.size], [0n, [], 0], 'a watcher restart starts again');
});

test('replica: pruning drops aged entries from the scans, holds kept longer than markers', () => {
  const r = new Replica();
  const at = (entry, created) => ({ ...entry, created });
  r.apply('_hx.hold', at(put(1n), 100n));
  r.apply('_hx.gone', at(marker(2n), 100n));
  r.learn('_hx.own', at(put(3n), 100n));
  r.prune(160n, { keepHold: 120n, keepMarker: 60n });
  assert.deepEqual([r.size, keys(r.scan('_hx.'))], [3, ['_hx.hold', '_hx.own']]);
  r.prune(161n, { keepHold: 120n, keepMarker: 60n });
  assert.deepEqual([r.size, r.keys], [2, ['_hx.hold', '_hx.own']], 'the marker left the index too');
  r.prune(221n, { keepHold: 120n, keepMarker: 60n });
  assert.deepEqual([r.size, r.keys, r.scan('')], [0, [], []]);
  r.apply('_hx.hold', at(put(4n), 300n));
  assert.deepEqual(keys(r.scan('_hx.')), ['_hx.hold'], 'a key comes back into the index');
});

test("replica: a scan by the sorted index agrees with a walk of every key's newest value", () => {
  // A fixed pseudo-random sequence over a small alphabet: many shared prefixes.
  let seed = 42;
  const next = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return (seed >>> 16) % n;
  };
  const alphabet = ['a', 'b', '.', '_', '=', 'é', '\u{1F600}'];
  const word = () => Array.from({ length: 1 + next(4) }, () => alphabet[next(alphabet.length)]).join('');
  const r = new Replica();
  let revision = 0n;
  const words = Array.from({ length: 60 }, word);
  for (let i = 0; i < 600; i++) {
    const key = words[next(words.length)];
    revision += 1n;
    const entry = next(4) === 0 ? marker(revision) : put(revision, String(revision));
    if (next(3) === 0) r.learn(key, entry);
    else r.apply(key, entry);
  }
  const walked = (prefix) => {
    const all = new Set([...r.watched.keys(), ...r.ahead.keys()]);
    return [...all]
      .filter((k) => k.startsWith(prefix) && r.newest(k).operation === 'put')
      .sort((x, y) => (x < y ? -1 : 1))
      .map((k) => [k, dec(r.newest(k).value), r.newest(k).revision]);
  };
  assert.equal(r.keys.length, new Set([...r.watched.keys(), ...r.ahead.keys()]).size);
  assert.ok(r.ahead.size > 0 && r.scan('').length > 20, 'values, markers, entries ahead');
  const prefixes = ['', ...words, ...words.map((w) => w.slice(0, 1)), ...words.map((w) => w.slice(0, -1))];
  for (const prefix of prefixes) assert.deepEqual(rows(r.scan(prefix)), walked(prefix), JSON.stringify(prefix));
});

test('the hub answers a scan from its replica only when ready and the watch delivered `through`', async () => {
  const hub = new Hub({ store: undefined, pool: undefined, clock: undefined, chanBuffer: 1, startTimeoutMs: 1 });
  hub.phase = 'starting';
  // The watch's replay (no subscribers, no sweeps: nothing to interpret).
  await hub.apply('_hx.a', put(3n, 'a'), true, false);
  await hub.apply('_hx.m', marker(5n), true, false);
  await hub.apply('=2Fw', put(2n), true, false);
  assert.equal(hub.scanView('_hx.', 0n), undefined, 'not ready: the store is read');
  hub.setPhase('ready');
  assert.deepEqual(rows(hub.scanView('_hx.', 0n)), [['_hx.a', 'a', 3n]], 'any view: markers and other keys left out');
  assert.deepEqual(rows(hub.scanView('_hx.', 5n)), [['_hx.a', 'a', 3n]], 'delivered up to through');
  assert.equal(hub.scanView('_hx.', 6n), undefined, 'revision 6 not delivered: the store is read');

  hub.observeOwn([
    ['_hx.b', put(6n, 'b')],
    ['_hx.z', { found: false, value: enc(''), revision: 0n, operation: 'put' }],
  ]);
  assert.deepEqual(keys(hub.scanView('_hx.', 5n)), ['_hx.a', '_hx.b'], "a call's own write is in view at once");
  assert.equal(hub.scanView('_hx.', 6n), undefined, 'but the watch has not delivered it');
  await hub.apply('_hx.b', put(6n, 'b'), false, false);
  assert.deepEqual(keys(hub.scanView('_hx.', 6n)), ['_hx.a', '_hx.b']);
  await hub.apply('_hx.a', marker(7n), false, false);
  assert.deepEqual(keys(hub.scanView('_hx.', 7n)), ['_hx.b'], 'a released hold leaves the view');

  hub.fail(new StoreError('the watch failed'));
  assert.equal(hub.scanView('_hx.', 0n), undefined, 'failed: the store is read');
  assert.equal(hub.replica.delivered, 0n, 'cleared with the replica');
  hub.close();
});

test('the scan import is answered by the view when it can, else by the store; a fresh scan always by the store', async () => {
  const store = new MemoryStore();
  const rev = store.put('_hx.a', enc('stored'));
  const asked = [];
  let viewed;
  const pool = { store, view: (prefix, through) => (asked.push([prefix, through]), viewed) };
  const serve = (request) => InstancePool.prototype.serveImport.call(pool, request);
  const stored = await serve({ op: 'scan', prefix: '_hx.', through: rev });
  assert.deepEqual([rows(stored.ok), stored.viewed], [[['_hx.a', 'stored', rev]], undefined], 'no view: the store');
  viewed = [{ key: '_hx.v', entry: put(9n, 'viewed') }];
  const answer = await serve({ op: 'scan', prefix: '_hx.', through: 0n });
  assert.deepEqual([rows(answer.ok), answer.viewed], [[['_hx.v', 'viewed', 9n]], true]);
  const fresh = await serve({ op: 'scan', prefix: '_hx.', through: SCAN_FRESH });
  assert.deepEqual(rows(fresh.ok), [['_hx.a', 'stored', rev]], "the store's current state");
  assert.deepEqual(asked, [
    ['_hx.', rev],
    ['_hx.', 0n],
  ]);
  assert.equal(SCAN_FRESH, 2n ** 64n - 1n);
  store.setUnavailable('down');
  viewed = undefined;
  assert.deepEqual(await serve({ op: 'scan', prefix: '_hx.', through: 1n }), {
    err: { tag: 'unavailable', val: 'down' },
  });
});

/** A memory store that records its scans' `through`, and whose watch can be held back. */
class HeldWatch extends MemoryStore {
  scans = [];
  #open = Promise.resolve();
  #go = () => {};
  scan(prefix, through) {
    this.scans.push(through);
    return super.scan(prefix, through);
  }
  hold() {
    this.#open = new Promise((resolve) => (this.#go = resolve));
  }
  go() {
    this.#go();
    this.#open = Promise.resolve();
  }
  async *watch(options) {
    for await (const item of super.watch(options)) {
      await this.#open;
      yield item;
    }
  }
}

async function until(predicate, what) {
  for (let i = 0; i < 500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(predicate(), what);
}

const F = '/work/a.txt';
const agents = (claims) => claims.map((c) => c.hold.agentId);

test("a warm replica answers the component's scans; without one, or behind `through`, the store is read", async () => {
  const store = new HeldWatch({ maxAge: 60_000_000_000n });
  const opts = { ttlMax: '60s', log: () => {} };
  const warm = await Manager.open(store, opts);
  const cold = await Manager.open(store, { ...opts, replica: false });
  try {
    (await warm.subscribe()).close(); // the replica is warm once this returns
    const a = await cold.announce(F, 'a', '30s', { mode: 'shared' });
    // Before the write and after it (revision 1: through 0), each of the shared
    // and pattern holds and of the file's own key.
    assert.deepEqual(store.scans, [0n, 0n, 0n, 0n], 'no replica: every scan reads the store');
    await until(() => warm.hub.replica.delivered >= a.revision, 'the watch delivers a');

    store.scans = [];
    const b = await warm.announce(F, 'b', '30s', { mode: 'shared' });
    assert.deepEqual(store.scans, [], 'both scans from the replica');
    await until(() => warm.hub.replica.delivered >= b.revision, 'the watch delivers b');
    await assert.rejects(
      warm.announce(F, 'c', '30s'),
      (e) => e instanceof HeldByOthers && same(agents(e.claims), ['a', 'b']),
      'judged from the replica',
    );
    assert.deepEqual(store.scans, [SCAN_FRESH], "only the refusal's confirmation, of the store's current state");
    assert.deepEqual(await warm.holders(F), [a, b]);
    assert.deepEqual(await warm.check([F], 'b'), [{ file: F, state: 'heldByAnother', claim: a }]);
    // holders and check read the current state, as whoHas reads the store.
    assert.deepEqual(store.scans, [SCAN_FRESH, SCAN_FRESH, SCAN_FRESH]);

    // Another manager's hold the watch has not delivered: the announce's scan
    // after its write must see it, so it reads the store.
    store.hold();
    const x = await cold.announce('/other/x.txt', 'x', '30s');
    const delivered = warm.hub.replica.delivered;
    assert.ok(delivered < x.revision);
    store.scans = [];
    await assert.rejects(
      warm.announce('/other/', 'd', '30s'),
      (e) => e instanceof HeldByOthers && same(e.claims, [x]),
      'the refusal names the hold only the store knows of',
    );
    assert.ok(
      store.scans.some((through) => through >= x.revision && through < SCAN_FRESH),
      `the scan after the write, behind the watch, read the store: ${store.scans}`,
    );
    assert.equal(warm.hub.replica.delivered, delivered, 'the watch was held back meanwhile');
    store.go();
    await until(() => warm.hub.replica.delivered > x.revision, 'the watch delivers the rest');
    assert.deepEqual(await warm.holders('/other/x.txt'), [x]);
  } finally {
    store.go();
    await warm.close();
    await cold.close();
  }
});
