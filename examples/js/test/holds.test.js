// The holds component on Node, through jco, over the in-memory bucket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, RecordingObserver, holdsError, instantiateHolds } from '../src/holds-host.js';
import { MemoryKv, unavailable, wrongRevision } from '../src/memory-kv.js';

const S = 1_000_000_000n;
const TTL_MAX = 60n * S;
const T0 = 1_764_130_866_500_000_000n; // 2025-11-26T04:21:06.5Z
const FILE = '/work/a.txt';
const KEY = '=2Fwork=2Fa.txt';

/** One agent's host: its own instance, clock and observer, over a (shared) bucket. */
async function host(kv = new MemoryKv(), now = T0) {
  const clock = new ManualClock(now);
  const observer = new RecordingObserver();
  const exports = await instantiateHolds({ kv: kv.imports(), clock, observer });
  return { kv, clock, observer, ...exports };
}

const request = (file, agentId, ttl) => ({ file, agentId, ttl, checkoutPath: `/co/${agentId}` });

/** The `error` variant thrown by `fn`. */
function errorOf(fn) {
  try {
    fn();
  } catch (e) {
    return holdsError(e);
  }
  assert.fail('expected an error');
}

const calls = (kv, op) => kv.calls.filter((c) => c.op === op);

test('happy path: announce, who-has, release', async () => {
  const { kv, holds } = await host();
  const claim = holds.announce(request(FILE, 'a', 30n * S), TTL_MAX, undefined);
  assert.deepEqual(claim, {
    file: FILE,
    hold: { agentId: 'a', claimedAt: T0, expiresAt: T0 + 30n * S, checkoutPath: '/co/a', ttl: 30n * S },
    revision: 1n,
  });
  assert.deepEqual(calls(kv, 'writeIfRevision'), [{ op: 'writeIfRevision', key: KEY, expected: 0n, ttlSeconds: 30 }]);
  // The stored value is the Go package's JSON.
  assert.equal(
    new TextDecoder().decode(kv.entry(KEY).value),
    '{"agent_id":"a","claimed_at":"2025-11-26T04:21:06.5Z","expires_at":"2025-11-26T04:21:36.5Z","checkout_path":"/co/a","ttl":30000000000}',
  );

  assert.deepEqual(holds.whoHas(FILE, undefined), claim);
  assert.deepEqual(holds.whoHas('/work/./x/..//a.txt', undefined), claim, 'paths are cleaned');

  assert.deepEqual(holds.release(FILE, 'a', undefined), { tag: 'released', val: 2n });
  assert.deepEqual(kv.entry(KEY), { found: true, value: new Uint8Array(0), revision: 2n, operation: 'delete' });
  assert.equal(holds.whoHas(FILE, undefined), undefined);

  // A released file is vacant: the next announce writes over the marker's revision.
  const again = holds.announce(request(FILE, 'b', S), TTL_MAX, undefined);
  assert.equal(again.revision, 3n);
  assert.equal(calls(kv, 'writeIfRevision').at(-1).expected, 2n);
});

test('held by another: refused with the holder\'s claim; the holder renews', async () => {
  const { kv, clock, holds } = await host();
  const first = holds.announce(request(FILE, 'a', 30n * S), TTL_MAX, undefined);
  clock.advance(S);
  const err = errorOf(() => holds.announce(request(FILE, 'b', 30n * S), TTL_MAX, undefined));
  assert.deepEqual(err, { tag: 'held-by-another', val: first });
  assert.equal(calls(kv, 'writeIfRevision').length, 1, 'nothing written for b');

  const renewed = holds.announce(request(FILE, 'a', 30n * S), TTL_MAX, undefined);
  assert.equal(renewed.revision, 2n);
  assert.equal(renewed.hold.claimedAt, T0 + S, 'renewal moves claimed-at');
});

test('release by the wrong agent is a no-op and leaves the hold', async () => {
  const { kv, holds } = await host();
  const claim = holds.announce(request(FILE, 'a', 30n * S), TTL_MAX, undefined);
  assert.deepEqual(holds.release(FILE, 'b', undefined), { tag: 'not-held' });
  assert.deepEqual(holds.whoHas(FILE, undefined), claim);
  assert.equal(kv.entry(KEY).operation, 'put');
  assert.equal(calls(kv, 'deleteIfRevision').length, 0);
  // Missing files too.
  assert.deepEqual(holds.release('/work/none', 'a', undefined), { tag: 'not-held' });
  assert.equal(holds.whoHas('/work/none', undefined), undefined);
});

test('take-over after expiry; a hold expiring exactly now is still live', async () => {
  const { kv, clock, holds } = await host();
  const a = holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  assert.equal(a.hold.expiresAt, T0 + S);

  clock.set(T0 + S); // exactly the expiry instant
  assert.deepEqual(holds.whoHas(FILE, undefined), a);
  assert.equal(errorOf(() => holds.announce(request(FILE, 'b', S), TTL_MAX, undefined)).tag, 'held-by-another');

  clock.advance(1n); // one nanosecond past it
  assert.equal(holds.whoHas(FILE, undefined), undefined);
  const b = holds.announce(request(FILE, 'b', S), TTL_MAX, undefined);
  assert.equal(b.hold.agentId, 'b');
  assert.equal(b.revision, 2n);
  assert.equal(calls(kv, 'writeIfRevision').at(-1).expected, 1n, 'written over a\'s revision');
  assert.deepEqual(holds.release(FILE, 'a', undefined), { tag: 'not-held' }, 'a no longer holds it');
  assert.deepEqual(holds.whoHas(FILE, undefined), b);
});

test('a release racing a take-over does not delete the new hold (stale observed entry)', async () => {
  // Two agents' hosts share one bucket; B's clock is past A's expiry, A's is not.
  const kv = new MemoryKv();
  const A = await host(kv, T0);
  const B = await host(kv, T0 + 2n * S);
  A.holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  const seenByA = kv.entry(KEY); // A's view: its own live hold at revision 1

  const b = B.holds.announce(request(FILE, 'b', S), TTL_MAX, undefined);
  assert.equal(b.revision, 2n);

  // A releases on its stale view: the delete is gated on revision 1, loses, and
  // the fresh read shows B's hold, which is not A's to release.
  assert.deepEqual(A.holds.release(FILE, 'a', seenByA), { tag: 'not-held' });
  assert.deepEqual(calls(kv, 'deleteIfRevision'), [{ op: 'deleteIfRevision', key: KEY, expected: 1n, why: 'released' }]);
  // Losing on a stale observed entry is a re-read, not a lost race: no retry.
  assert.deepEqual(A.observer.retries, []);
  assert.equal(kv.entry(KEY).operation, 'put');
  assert.deepEqual(B.holds.whoHas(FILE, undefined), b);
});

test('a release racing a take-over does not delete the new hold (interposed in the kv)', async () => {
  const kv = new MemoryKv();
  const A = await host(kv, T0);
  const B = await host(kv, T0 + 2n * S);
  A.holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);

  // Between A's read and A's delete, B takes the hold over.
  let b;
  kv.interpose('deleteIfRevision', () => {
    b = B.holds.announce(request(FILE, 'b', S), TTL_MAX, undefined);
  });
  assert.deepEqual(A.holds.release(FILE, 'a', undefined), { tag: 'not-held' });
  assert.equal(b.revision, 2n);
  assert.deepEqual(A.observer.retries, [{ key: KEY, attempt: 2 }]);
  assert.deepEqual(B.holds.whoHas(FILE, undefined), b);
});

test('CAS retry: a lost write is retried from a fresh read', async () => {
  const { kv, observer, holds } = await host();
  kv.failNext('writeIfRevision', wrongRevision());
  const claim = holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  assert.equal(claim.revision, 1n);
  assert.deepEqual(observer.retries, [{ key: KEY, attempt: 2 }]);
  assert.equal(calls(kv, 'writeIfRevision').length, 2);
  assert.equal(calls(kv, 'get').length, 2);
});

test('CAS retry: a racing raw write of the same agent\'s hold, then a renewal', async () => {
  const { kv, observer, holds } = await host();
  kv.interpose('writeIfRevision', (key) => {
    // The same agent's hold as a Go agent writes it (claimed at T0, for 1 s).
    const raced =
      '{"agent_id":"a","claimed_at":"2025-11-26T04:21:06.5Z","expires_at":"2025-11-26T04:21:07.5Z",' +
      '"checkout_path":"/elsewhere","ttl":1000000000}';
    kv.put(key, new TextEncoder().encode(raced));
  });
  const claim = holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  assert.equal(claim.revision, 2n);
  assert.equal(claim.hold.checkoutPath, '/co/a');
  assert.deepEqual(observer.retries, [{ key: KEY, attempt: 2 }]);
  assert.deepEqual(
    calls(kv, 'writeIfRevision').map((c) => c.expected),
    [0n, 1n],
  );
});

test('two agents racing for a vacant file: exactly one wins', async () => {
  const kv = new MemoryKv();
  const A = await host(kv);
  const B = await host(kv);
  // A read the file as vacant; B's announce lands before A's write.
  let b;
  kv.interpose('writeIfRevision', () => {
    b = B.holds.announce(request(FILE, 'b', S), TTL_MAX, undefined);
  });
  assert.deepEqual(errorOf(() => A.holds.announce(request(FILE, 'a', S), TTL_MAX, undefined)), {
    tag: 'held-by-another',
    val: b,
  });
  assert.deepEqual(A.observer.retries, [{ key: KEY, attempt: 2 }]);
  assert.equal(kv.lastRevision, 1n, 'one write landed');
  assert.deepEqual(A.holds.whoHas(FILE, undefined), b);
});

test('CAS exhausted after 8 attempts, 7 retries', async () => {
  const { kv, observer, holds } = await host();
  for (let i = 0; i < 8; i++) kv.failNext('writeIfRevision', wrongRevision());
  assert.deepEqual(errorOf(() => holds.announce(request(FILE, 'a', S), TTL_MAX, undefined)), {
    tag: 'cas-exhausted',
    val: 8,
  });
  assert.deepEqual(observer.retries.map((r) => r.attempt), [2, 3, 4, 5, 6, 7, 8]);
  assert.equal(kv.entry(KEY).found, false);
});

test('an unavailable store is a store error', async () => {
  const { kv, holds } = await host();
  kv.failNext('get', unavailable('timed out'));
  assert.deepEqual(errorOf(() => holds.announce(request(FILE, 'a', S), TTL_MAX, undefined)), {
    tag: 'store',
    val: 'timed out',
  });
});

test('invalid input is refused before the store is touched', async () => {
  const { kv, holds } = await host();
  for (const [req, field] of [
    [request(FILE, '', S), 'agent-id'],
    [request(FILE, 'a', 0n), 'ttl'],
    [request(FILE, 'a', TTL_MAX + 1n), 'ttl'],
    [request('work/a.txt', 'a', S), 'file'],
  ]) {
    const err = errorOf(() => holds.announce(req, TTL_MAX, undefined));
    assert.equal(err.tag, 'invalid-input');
    assert.equal(err.val.field, field);
  }
  assert.equal(kv.calls.length, 0);
});

test('observed hints are judged without a read; a stale refusal is confirmed by one', async () => {
  const { kv, holds } = await host();
  const claim = holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  const hint = kv.entry(KEY);
  kv.calls.length = 0;
  assert.deepEqual(holds.whoHas(FILE, hint), claim);
  assert.equal(kv.calls.length, 0, 'who-has with a hint reads nothing');

  // The hint says a holds it, but a released it meanwhile: b's announce reads before refusing.
  holds.release(FILE, 'a', undefined);
  kv.calls.length = 0;
  const b = holds.announce(request(FILE, 'b', S), TTL_MAX, hint);
  assert.equal(b.hold.agentId, 'b');
  assert.equal(calls(kv, 'get').length, 1);
});

test('key codec vectors', async () => {
  const { holds } = await host();
  for (const [file, key] of [
    ['/work/a.txt', '=2Fwork=2Fa.txt'],
    ['/work/with space/foo.txt', '=2Fwork=2Fwith=20space=2Ffoo.txt'],
    ['/w/é.txt', '=2Fw=2F=C3=A9.txt'],
  ]) {
    assert.equal(holds.keyForFile(file), key);
    assert.equal(holds.fileForKey(key), file);
  }
  assert.deepEqual(errorOf(() => holds.keyForFile('relative/a.txt')).tag, 'invalid-input');
});

test('interpret: put -> announced, a removed hold -> released or expired', async () => {
  const { kv, clock, holds, subscribe } = await host();
  const none = kv.entry('=2Fnever');
  const claim = holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  const put = kv.entry(KEY);
  assert.deepEqual(subscribe.interpret({ key: KEY, entry: put, previous: none, snapshot: false }), {
    event: { file: FILE, revision: 1n, kind: { tag: 'announced', val: claim.hold } },
    expiryCheckAt: claim.hold.expiresAt + 1n,
    dropped: undefined,
  });

  holds.release(FILE, 'a', undefined);
  const marker = kv.entry(KEY);
  const released = subscribe.interpret({ key: KEY, entry: marker, previous: put, snapshot: false });
  assert.deepEqual(released.event, { file: FILE, revision: 2n, kind: { tag: 'released', val: undefined } });
  // While replaying the bucket, markers are not events; nor is a marker that
  // replaces a marker (the server's MaxAge marker for an aged-out release).
  assert.equal(subscribe.interpret({ key: KEY, entry: marker, previous: none, snapshot: true }).event, undefined);
  const maxAge = { ...marker, revision: 3n, operation: 'expire' };
  assert.equal(subscribe.interpret({ key: KEY, entry: maxAge, previous: marker, snapshot: false }).event, undefined);

  // A store that cannot expire entries itself: the host sweeps at expiry-check-at.
  const again = holds.announce(request(FILE, 'a', S), TTL_MAX, undefined);
  const hold = kv.entry(KEY);
  assert.deepEqual(subscribe.sweep(KEY, hold), { tag: 'not-due', val: again.hold.expiresAt + 1n }, 'still live');
  clock.advance(2n * S);
  assert.deepEqual(subscribe.sweep(KEY, hold), { tag: 'expired', val: 4n });
  assert.equal(kv.entry(KEY).operation, 'expire');
  const expired = subscribe.interpret({ key: KEY, entry: kv.entry(KEY), previous: hold, snapshot: false });
  assert.deepEqual(expired.event, { file: FILE, revision: 4n, kind: { tag: 'expired' } });
  assert.deepEqual(subscribe.sweep(KEY, hold), { tag: 'nothing' });

  const junk = subscribe.interpret({
    key: KEY,
    entry: { found: true, value: new TextEncoder().encode('garbage'), revision: 9n, operation: 'put' },
    previous: none,
    snapshot: false,
  });
  assert.equal(junk.event, undefined);
  assert.match(junk.dropped, /not a hold/);
});

test('claim-files: all or nothing in one write-batch, naming every holder on a refusal', async () => {
  const kv = new MemoryKv();
  const a = await host(kv);
  const b = await host(kv);
  const files = ['/work/c.txt', FILE, '/work/b.txt'];
  const claimed = a.holds.claimFiles({ files, agentId: 'a', ttl: 30n * S, checkoutPath: '' }, TTL_MAX, 16, []);
  assert.equal(claimed.atomic, true);
  assert.deepEqual(
    claimed.claims.map((c) => c.file),
    ['/work/a.txt', '/work/b.txt', '/work/c.txt'],
    'sorted',
  );
  assert.equal(calls(kv, 'writeBatch').length, 1);
  assert.equal(calls(kv, 'writeIfRevision').length, 0);

  const before = kv.lastRevision;
  const refused = errorOf(() =>
    b.holds.claimFiles({ files: ['/work/d.txt', FILE], agentId: 'b', ttl: 30n * S, checkoutPath: '' }, TTL_MAX, 16, []),
  );
  assert.equal(refused.tag, 'held-by-others');
  assert.deepEqual(
    refused.val.map((c) => c.hold.agentId),
    ['a'],
  );
  assert.equal(kv.lastRevision, before, 'a refusal writes nothing');
  assert.equal(b.holds.whoHas('/work/d.txt', undefined), undefined);
});

test('force-release leaves a marker noting who forced it, and interpret reports it', async () => {
  const kv = new MemoryKv();
  const { holds, subscribe } = await host(kv);
  holds.announce(request(FILE, 'a', 30n * S), TTL_MAX, undefined);
  const put = kv.entry(KEY);
  assert.deepEqual(holds.forceRelease(FILE, 'ops', undefined), { tag: 'released', val: 2n });
  const marker = kv.entry(KEY);
  assert.equal(marker.operation, 'delete');
  const change = subscribe.interpret({ key: KEY, entry: marker, previous: put, snapshot: false });
  assert.deepEqual(change.event.kind, { tag: 'released', val: 'ops' });
});
