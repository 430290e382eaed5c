// The JetStream store on a real nats-server: the bucket it creates, the headers
// it writes, markers it reads, buckets it attaches to, and an unreachable server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { DiscardPolicy, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  ConfigError,
  HeldByOthers,
  JetStreamStore,
  Lost,
  Manager,
  NotStored,
  StoreError,
  Unavailable,
  Unsupported,
  WrongRevision,
} from '../src/index.js';
import { NatsServer } from './support/nats-server.js';

const F = '/work/a.txt';
const KEY = '=2Fwork=2Fa.txt';
const bucket = () => `t_${randomBytes(5).toString('hex')}`;
const quiet = { log: () => {} };
let server;

before(async () => {
  server = await NatsServer.start();
});
after(async () => {
  await server?.dispose();
});

async function withJsm(url, fn) {
  const nc = await connect({ servers: url });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}
const rawMessage = (name, key) =>
  withJsm(server.url, (jsm) => jsm.direct.getMessage(`KV_${name}`, { last_by_subj: `$KV.${name}.${key}` }));

test('a new bucket is created as the Rust host creates it', async () => {
  const name = bucket();
  const m = await Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '90s', ...quiet });
  try {
    assert.equal(m.store.expiresEntries, true);
    const { config: c } = await withJsm(server.url, (jsm) => jsm.streams.info(`KV_${name}`));
    assert.equal(c.max_msgs_per_subject, 1);
    assert.equal(c.max_age, 90_000_000_000);
    assert.equal(c.storage, StorageType.File);
    assert.equal(c.allow_msg_ttl, true);
    assert.equal(c.subject_delete_marker_ttl, 90_000_000_000);
    assert.equal(c.allow_direct && c.allow_rollup_hdrs && c.deny_delete, true);
    assert.equal(c.discard, DiscardPolicy.New);
    assert.deepEqual(c.subjects, [`$KV.${name}.>`]);
  } finally {
    await m.close();
  }
});

test('holds carry their TTL, and a server expiry reads as expire', async () => {
  const name = bucket();
  const m = await Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '60s', ...quiet });
  try {
    await m.announce(F, 'a', '30s');
    const held = await rawMessage(name, KEY);
    assert.equal(held.header.get('Nats-TTL'), '30s');
    assert.equal(held.header.get('Nats-Expected-Last-Subject-Sequence'), '0');
    await m.announce('/w/short', 'a', '1s');
    await new Promise((r) => setTimeout(r, 1600));
    const key = await m.keyForFile('/w/short');
    assert.equal((await rawMessage(name, key)).header.get('Nats-Marker-Reason'), 'MaxAge');
    const entry = await m.store.get(key);
    assert.deepEqual([entry.found, entry.operation, entry.value.length], [true, 'expire', 0]);
  } finally {
    await m.close();
  }
});

test('a bucket without per-message TTLs is used as is and swept', async () => {
  const name = bucket();
  await withJsm(server.url, (jsm) =>
    jsm.streams.add({
      name: `KV_${name}`,
      subjects: [`$KV.${name}.>`],
      max_msgs_per_subject: 1,
      max_age: 120_000_000_000,
      discard: DiscardPolicy.New,
      allow_direct: true,
      allow_rollup_hdrs: true,
      deny_delete: true,
      storage: StorageType.File,
    }),
  );
  const m = await Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '60s', ...quiet });
  try {
    assert.equal(m.store.expiresEntries, false);
    const sub = await m.subscribe();
    const claim = await m.announce(F, 'a', '1s');
    assert.equal((await rawMessage(name, KEY)).header.has('Nats-TTL'), false);
    const events = [await sub.next(5000), await sub.next(5000)];
    assert.deepEqual(
      events.map((e) => e.kind),
      ['announced', 'expired'],
    );
    assert.ok(events[1].revision > claim.revision);
    const marker = await rawMessage(name, KEY);
    assert.equal(marker.header.get('KV-Operation'), 'DEL');
    assert.equal(marker.header.get('Holds-Removal'), 'expired');
  } finally {
    await m.close();
  }
});

test('a new bucket takes atomic batches, all or nothing', async () => {
  const name = bucket();
  const m = await Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '60s', ...quiet });
  try {
    const s = m.store;
    const { config } = await withJsm(server.url, (jsm) => jsm.streams.info(`KV_${name}`));
    assert.equal(config.allow_atomic, true);
    assert.equal(s.atomic, true);
    const enc = (t) => new TextEncoder().encode(t);
    const a = await s.writeIfRevision('a', enc('a0'), 0n, 0);
    const revs = await s.writeBatch([
      { key: 'a', value: enc('a1'), expected: a, ttlSeconds: 30 },
      { key: 'b', value: enc('b1'), expected: 0n, ttlSeconds: 30 },
    ]);
    assert.deepEqual(revs, [a + 1n, a + 2n]);
    // b expects "no entry" but has one: a must not be written either.
    await assert.rejects(
      s.writeBatch([
        { key: 'a', value: enc('a2'), expected: revs[0], ttlSeconds: 30 },
        { key: 'b', value: enc('b2'), expected: 0n, ttlSeconds: 30 },
      ]),
      WrongRevision,
    );
    const after = await s.getMany(['a', 'b', 'c']);
    assert.deepEqual(
      after.map((e) => [e.found, new TextDecoder().decode(e.value), e.revision]),
      [
        [true, 'a1', a + 1n],
        [true, 'b1', a + 2n],
        [false, '', 0n],
      ],
    );
    assert.equal((await rawMessage(name, 'b')).header.get('Nats-TTL'), '30s');
  } finally {
    await m.close();
  }
});

test('scan: a fresh replay of the latest put of every key under the prefix, markers and other keys left out', async () => {
  const name = bucket();
  const s = await JetStreamStore.open({ servers: server.url, bucket: name, maxAge: 60_000_000_000n });
  try {
    const enc = (t) => new TextEncoder().encode(t);
    const rows = (scanned) =>
      scanned
        .map(({ key, entry }) => [key, new TextDecoder().decode(entry.value), entry.revision, entry.operation])
        .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    assert.deepEqual(await s.scan('_hx.', 0n), [], 'an empty bucket');
    const a = await s.writeIfRevision('_hx.a', enc('a1'), 0n, 30);
    const a2 = await s.writeIfRevision('_hx.a', enc('a2'), a, 30);
    const b = await s.put('_hx.b', enc('b'));
    await s.deleteIfRevision('_hx.b', b, 'expired');
    const deep = await s.put('_hx.deep.c', enc('c'));
    const near = await s.put('_hxnear', enc('n'));
    await s.put(KEY, enc('file'));
    // another client's purge of a key: no message of it is left
    const purged = await s.put('_hx.purged', enc('p'));
    await withJsm(server.url, (jsm) => jsm.streams.purge(`KV_${name}`, { filter: `$KV.${name}._hx.purged`, keep: 0 }));
    assert.deepEqual(await s.scan('_hx.purged', 0n), [], `purged at ${purged}`);
    assert.deepEqual(rows(await s.scan('_hx.', deep)), [
      ['_hx.a', 'a2', a2, 'put'],
      ['_hx.deep.c', 'c', deep, 'put'],
    ]);
    assert.deepEqual(
      rows(await s.scan('_hx', 0n)).map((r) => r[0]),
      ['_hx.a', '_hx.deep.c', '_hxnear'],
      'a prefix is a prefix of the key, not of its tokens',
    );
    assert.deepEqual(rows(await s.scan('_hxn', 0n)), [['_hxnear', 'n', near, 'put']]);
    assert.deepEqual(
      rows(await s.scan('', 0n)).map((r) => r[0]),
      ['=2Fwork=2Fa.txt', '_hx.a', '_hx.deep.c', '_hxnear'],
    );
    assert.deepEqual(await s.scan('nowhere.', 0n), []);
    // what was just written is in view
    const b2 = await s.put('_hx.b', enc('b2'));
    assert.deepEqual(rows(await s.scan('_hx.b', b2)), [['_hx.b', 'b2', b2, 'put']]);
  } finally {
    await s.close();
  }
  await assert.rejects(s.scan('_hx.', 0n), Unavailable, 'a closed connection');
});

test('shared and pattern holds on JetStream: judged by scans of the bucket, across managers', async () => {
  const name = bucket();
  const opts = { servers: server.url, bucket: name, ttlMax: '60s', ...quiet };
  const [m1, m2] = [await Manager.jetstream(opts), await Manager.jetstream({ ...opts, replica: false })];
  try {
    const a = await m1.announce(F, 'a', '30s', { mode: 'shared' });
    const b = await m2.announce(F, 'b', '30s', { mode: 'shared' });
    const stored = await m1.store.scan('_hx.', b.revision);
    assert.equal(stored.length, 2, 'each under a key of its own');
    await assert.rejects(
      m2.announce('/work/', 'c', '30s'),
      (e) => e instanceof HeldByOthers && e.holders.join() === 'a,b',
    );
    for (const m of [m1, m2]) {
      assert.deepEqual(
        (await m.holders(F)).map((c) => [c.hold.agentId, c.hold.mode, c.revision]),
        [
          ['a', 'shared', a.revision],
          ['b', 'shared', b.revision],
        ],
      );
    }
    await m1.release(F, 'a');
    await m2.release(F, 'b');
    const dir = await m2.announce('/work/', 'c', '30s');
    await assert.rejects(m1.announce(F, 'a', '30s'), (e) => e instanceof HeldByOthers && e.holders.join() === 'c');
    assert.deepEqual(await m1.check([F], 'c'), [{ file: F, state: 'held', claim: dir }]);
  } finally {
    await m1.close();
    await m2.close();
  }
});

test('a warm replica answers the scans on JetStream: an announce replays nothing', async () => {
  const opts = { servers: server.url, bucket: bucket(), ttlMax: '60s', ...quiet };
  const [warm, cold] = [await Manager.jetstream(opts), await Manager.jetstream({ ...opts, replica: false })];
  const scans = [];
  const scan = warm.store.scan.bind(warm.store);
  warm.store.scan = (prefix, through) => (scans.push(through), scan(prefix, through));
  const delivered = async (revision) => {
    for (let i = 0; i < 400 && warm.hub.replica.delivered < revision; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(warm.hub.replica.delivered >= revision, `the watch delivers ${revision}`);
  };
  try {
    (await warm.subscribe()).close(); // the replica is warm once this returns
    let last = 0n;
    for (const file of [F, F, '/work/b.txt', '/work/c/', F]) {
      await delivered(last);
      last = (await warm.announce(file, 'a', '30s', { mode: 'shared' })).revision;
    }
    assert.deepEqual(scans, [], 'every scan from the replica');
    const other = await cold.announce('/work/d.txt', 'b', '30s');
    await delivered(other.revision);
    await assert.rejects(
      warm.announce('/work/', 'c', '30s'),
      (e) => e instanceof HeldByOthers && e.holders.join() === 'a,a,a,b',
    );
    // The pattern's confirmation reads the shared and pattern holds, and the files under it.
    assert.deepEqual(scans, [(1n << 64n) - 1n, (1n << 64n) - 1n], "only the refusal's confirmation reads the store");
  } finally {
    await warm.close();
    await cold.close();
  }
});

test('a bucket without atomic batches claims file by file and rolls back a refusal', async () => {
  const name = bucket();
  await withJsm(server.url, (jsm) =>
    jsm.streams.add({
      name: `KV_${name}`,
      subjects: [`$KV.${name}.>`],
      max_msgs_per_subject: 1,
      max_age: 120_000_000_000,
      discard: DiscardPolicy.New,
      allow_direct: true,
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_msg_ttl: true,
      storage: StorageType.File,
    }),
  );
  const m = await Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '60s', ...quiet });
  try {
    assert.equal(m.store.atomic, false);
    await assert.rejects(
      m.store.writeBatch([{ key: 'x', value: new Uint8Array(0), expected: 0n, ttlSeconds: 0 }]),
      Unsupported,
    );
    const took = await m.claim(['/w/b', '/w/a'], 'a', '30s');
    assert.equal(took.atomic, false);
    assert.deepEqual(
      took.claims.map((c) => c.file),
      ['/w/a', '/w/b'],
    );
    await m.announce('/w/d', 'b', '30s');
    await assert.rejects(
      m.claim(['/w/c', '/w/d'], 'a', '30s'),
      (e) => e instanceof HeldByOthers && e.holders.join() === 'b',
    );
    assert.equal(await m.whoHas('/w/c'), undefined, 'the file written before the refusal was rolled back');
  } finally {
    await m.close();
  }
});

test('a force-release marker carries who forced it, and the release log records it', async () => {
  const name = bucket();
  const m = await Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '60s', ...quiet });
  try {
    const sub = await m.subscribe();
    await m.announce(F, 'a', '30s');
    const log = () => withJsm(server.url, (jsm) => jsm.streams.info(`HOLDS_RELEASES_${name}`));
    await assert.rejects(log(), /stream not found/, 'no log before the first release');
    const released = await m.forceRelease(F, 'ops');
    const events = [await sub.next(5000), await sub.next(5000)];
    assert.equal(events[1].kind, 'released');
    assert.equal(events[1].forcedBy, 'ops');
    assert.equal(events[1].revision, released.revision);
    const marker = await rawMessage(name, KEY);
    assert.equal(marker.header.get('KV-Operation'), 'DEL');
    const note = '{"released_by":"ops","agent_id":"a","checkout_path":"","revision":1}';
    assert.equal(new TextDecoder().decode(marker.data), note);
    const record = await withJsm(server.url, (jsm) =>
      jsm.streams.getMessage(`HOLDS_RELEASES_${name}`, { last_by_subj: `$HOLDS.releases.${name}` }),
    );
    assert.equal(new TextDecoder().decode(record.data), note);
    assert.equal(record.header.get('Holds-Key'), KEY);
    assert.equal(record.header.get('Holds-Revision'), String(released.revision));
    assert.match(
      record.header.get('Holds-Process'),
      new RegExp(`^node \\S+ \\(pid ${process.pid}, user .+, host .+\\)$`),
    );
  } finally {
    await m.close();
  }
});

test('a hold as long as the bucket max age is accepted', async () => {
  const m = await Manager.jetstream({ servers: server.url, bucket: bucket(), ttlMax: '60s', ...quiet });
  try {
    assert.equal((await m.announce(F, 'a', '60s')).hold.ttl, 60_000_000_000n);
  } finally {
    await m.close();
  }
});

test('conditional writes are revision gated; a send the server took nothing of is not stored, and the component sends it again', async () => {
  const m = await Manager.jetstream({ servers: server.url, bucket: bucket(), ttlMax: '60s', ...quiet });
  const s = m.store;
  try {
    const r = await s.writeIfRevision('k', new Uint8Array([1]), 0n, 0);
    await assert.rejects(s.writeIfRevision('k', new Uint8Array([1]), 0n, 0), WrongRevision);
    await assert.rejects(s.deleteIfRevision('k', r + 7n, 'released'), WrongRevision);
    const d = await s.deleteIfRevision('k', r, 'released');
    assert.deepEqual([(await s.get('k')).revision, (await s.get('k')).operation], [d, 'delete']);

    const real = s.js.publish.bind(s.js);
    const failures = [];
    s.js.publish = async (...args) => {
      if (failures.length) throw failures.shift();
      return real(...args);
    };
    // A replicated leader's refusal without comparing (another write in flight): one send.
    failures.push(Object.assign(new Error('wrong last sequence'), { code: 10164 }));
    await assert.rejects(s.writeIfRevision('x', new Uint8Array([1]), 0n, 0), (e) => {
      assert.ok(e instanceof NotStored, String(e));
      assert.deepEqual([e.why, e.detail], ['busy', 'wrong last sequence']);
      return true;
    });
    assert.equal((await s.get('x')).found, false);
    failures.push(
      Object.assign(new Error('not ready'), { code: 10163 }),
      Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' }),
    );
    assert.equal((await m.announce(F, 'a', '30s')).hold.agentId, 'a');
    assert.equal(failures.length, 0);
  } finally {
    await m.close();
  }
});

// A write no stream takes wrote nothing (a batch's commit too: the Rust host's
// "no responders" once failed a CI run on a just-created R3 bucket). The store
// sends it once; whether to send it again is the component's call (its schedule
// is pinned by the shared cases' scripted `no-stream` answers). Every call now
// reads the bucket before it writes (holds:core@0.3.0 scans the pattern and
// shared holds first), so a call meets a missing stream as a read that fails.
// Here the bucket's stream is deleted, then made again.
test('a write no stream takes is not stored; a call meeting no stream fails at once, and finds its hold lost once the bucket is back', async () => {
  const name = bucket();
  const opts = { servers: server.url, bucket: name, ttlMax: '60s', replica: false, ...quiet };
  const m = await Manager.jetstream({ ...opts, opTimeoutMs: 1000 });
  const s = m.store;
  const enc = (t) => new TextEncoder().encode(t);
  const batch = [
    { key: 'b', value: enc('b'), expected: 0n, ttlSeconds: 30 },
    { key: 'c', value: enc('c'), expected: 0n, ttlSeconds: 30 },
  ];
  try {
    const { revision } = await m.announce(F, 'a', '30s');
    await withJsm(server.url, (jsm) => jsm.streams.delete(`KV_${name}`));
    for (const send of [() => s.writeIfRevision('a', enc('a'), 0n, 0), () => s.writeBatch(batch)]) {
      const started = performance.now();
      await assert.rejects(send(), (e) => e instanceof NotStored && e.why === 'no-stream');
      assert.ok(performance.now() - started < 500, `one send, answered at once: ${performance.now() - started} ms`);
    }

    // A renewal scans the bucket first: no stream to read, a StoreError at once.
    const started = performance.now();
    await assert.rejects(m.renew(F, 'a', '30s', revision), (e) => {
      assert.ok(e instanceof StoreError, String(e));
      assert.match(e.message, /scanning the keys under .*stream not found/);
      return true;
    });
    const waited = performance.now() - started;
    assert.ok(waited < 800, `refused at once, not sent again for the call's time: ${waited} ms`);

    // The bucket made again: the key is at no revision, so the renewal is lost.
    await (await Manager.jetstream(opts)).close();
    await assert.rejects(m.renew(F, 'a', '30s', revision), Lost);
  } finally {
    await m.close();
  }
});

test('an unreachable server is a StoreError at once, and the manager recovers', async () => {
  const own = await NatsServer.start();
  try {
    const m = await Manager.jetstream({
      servers: own.url,
      bucket: 'outage',
      ttlMax: '60s',
      opTimeoutMs: 2000,
      ...quiet,
    });
    try {
      const sub = await m.subscribe();
      const claim = await m.announce(F, 'a', '30s');
      assert.equal((await sub.next(5000)).revision, claim.revision);
      await own.stop();
      await new Promise((r) => setTimeout(r, 300));
      for (const call of [() => m.announce(F, 'a', '30s'), () => m.whoHas(F), () => m.release(F, 'a')]) {
        const started = performance.now();
        await assert.rejects(call(), StoreError);
        assert.ok(performance.now() - started < 500, `failed fast (${performance.now() - started} ms)`);
      }
      await own.start();
      const deadline = Date.now() + 15_000;
      let holder;
      for (;;) {
        try {
          holder = await m.whoHas(F);
          break;
        } catch (e) {
          if (!(e instanceof StoreError) || Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.deepEqual(holder, claim, 'the acknowledged hold survived the restart');
      const after = await m.announce('/w/after', 'a', '30s');
      const resumed = await sub.next(10_000);
      assert.deepEqual([resumed.file, resumed.revision], ['/w/after', after.revision], 'the subscription resumed');
    } finally {
      await m.close();
    }
  } finally {
    await own.dispose();
  }
});

test('connecting to nothing fails fast', async () => {
  const started = performance.now();
  await assert.rejects(
    Manager.jetstream({ servers: '127.0.0.1:1', bucket: 'x', opTimeoutMs: 1000, ...quiet }),
    StoreError,
  );
  assert.ok(performance.now() - started < 10_000);
});

test('a closed connection under the manager: store errors, never a trap', async () => {
  const m = await Manager.jetstream({ servers: server.url, bucket: bucket(), ttlMax: '60s', ...quiet });
  try {
    await m.store.close();
    await assert.rejects(m.store.get('k'), Unavailable);
    await assert.rejects(m.announce(F, 'a', '30s'), StoreError);
    assert.equal(await m.keyForFile(F), KEY);
    assert.equal(m.pool.traps, 0);
  } finally {
    await m.close();
  }
});

test('a bucket that drops its oldest entries is refused naming the setting', async () => {
  const name = bucket();
  await withJsm(server.url, (jsm) =>
    jsm.streams.add({
      name: `KV_${name}`,
      subjects: [`$KV.${name}.>`],
      max_msgs: 1,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: 1,
      allow_direct: true,
    }),
  );
  await assert.rejects(Manager.jetstream({ servers: server.url, bucket: name, ttlMax: '60s' }), (e) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /max_msgs with discard old/);
    return true;
  });
  const info = await withJsm(server.url, (jsm) => jsm.streams.info(`KV_${name}`));
  assert.equal(info.state.messages, 0);
});

test('a password in the URL appears in no description or error', async () => {
  const secret = 'S3cretPW-planted';
  const url = server.url.includes('://') ? server.url : `nats://${server.url}`;
  const withUserinfo = url.replace('://', `://alice:${secret}@`);
  // The test server takes any credentials: the description must not show them.
  const m = await Manager.jetstream({ servers: withUserinfo, bucket: bucket(), ttlMax: '60s' });
  try {
    assert.ok(!m.store.describe().includes(secret), m.store.describe());
  } finally {
    await m.close();
  }
  await assert.rejects(
    Manager.jetstream({ servers: `nats://alice:${secret}@127.0.0.1:1`, bucket: bucket(), opTimeoutMs: 500 }),
    (e) => {
      assert.ok(!e.message.includes(secret), e.message);
      assert.match(e.message, /\*\*\*@127\.0\.0\.1:1/);
      return true;
    },
  );
});
