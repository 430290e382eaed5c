// Benchmarks of the Node package (see host/BENCHMARKS.md).
//
//   node bench.mjs [--nats URL] [--n 2000]
//
// Without --nats it spawns a private nats-server (as the tests find one).
// Prints p50/p90/p99 in microseconds of:
// - raw: a revision-gated write with the NATS JS client alone (js.publish with
//   Nats-Expected-Last-Subject-Sequence), awaited on the main thread: the floor;
// - announce on JetStream, vacant (a new file each time) and renew (one file),
//   through the Manager with a warm replica (one write each);
// - one component call on the memory store: straight into an instance on this
//   thread (no bridge), and through the Manager (main -> worker -> main);
// - the bridge alone: an import's round trip from a worker to the main thread.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MessageChannel, Worker } from 'node:worker_threads';
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { instantiate } from './generated/holds.js';
import { Manager, MemoryStore, wallNanos } from './src/index.js';
import { serveRequests } from './src/bridge.js';
import { coreModules } from './src/pool.js';
import { importObject, kvFailure, wrongRevision } from './src/wit.js';
import { NatsServer } from './test/support/nats-server.js';

const { values: args } = parseArgs({ options: { nats: { type: 'string' }, n: { type: 'string', default: '2000' } } });
const N = Number(args.n);

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 10) / 10;
  return { p50: q(50), p90: q(90), p99: q(99), n: s.length };
}

async function timed(n, fn) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    samples.push((performance.now() - t) * 1000);
  }
  return summary(samples);
}

async function rawWrite(url) {
  const bucket = `bench_raw_${Date.now()}`;
  await (await Manager.jetstream({ servers: url, bucket, ttlMax: '5m', replica: false })).close();
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const value = new TextEncoder().encode(
    '{"agent_id":"bench","claimed_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:00:30Z","checkout_path":"","ttl":30000000000}',
  );
  let last = 0;
  const write = async () => {
    const h = headers();
    h.set('Nats-Expected-Last-Subject-Sequence', String(last));
    h.set('Nats-TTL', '30s');
    last = (await js.publish(`$KV.${bucket}.raw`, value, { headers: h })).seq;
  };
  for (let i = 0; i < 50; i++) await write();
  const out = await timed(N, write);
  await nc.close();
  return out;
}

async function announces(url) {
  const m = await Manager.jetstream({ servers: url, bucket: `bench_${Date.now()}`, ttlMax: '5m' });
  try {
    (await m.subscribe()).close(); // the replica is warm once this returns
    for (let i = 0; i < 50; i++) await m.announce(`/warm/${i}`, 'bench', '30s');
    const vacant = await timed(N, (i) => m.announce(`/bench/vacant/${i}`, 'bench', '30s'));
    await m.announce('/bench/renew', 'bench', '30s');
    const renew = await timed(N, () => m.announce('/bench/renew', 'bench', '30s'));
    // A two-file claim renewed: one atomic batch publish (two messages, one commit round trip).
    const files = ['/bench/claim/a', '/bench/claim/b'];
    await m.claim(files, 'bench', '30s');
    const claim = await timed(N, () => m.claim(files, 'bench', '30s'));
    return { announce_vacant: vacant, announce_renew: renew, claim_two_files_renew: claim };
  } finally {
    await m.close();
  }
}

async function memoryCalls() {
  // Straight into an instance on this thread, on a synchronous memory store.
  const store = new MemoryStore();
  const kv = {
    get: (key) => store.get(key),
    writeIfRevision: (key, value, expected, ttl) => {
      try {
        return store.writeIfRevision(key, value, expected, ttl);
      } catch {
        throw kvFailure(wrongRevision());
      }
    },
    deleteIfRevision: (key, expected, why, note) => store.deleteIfRevision(key, expected, why, note),
    getMany: (keys) => store.getMany(keys),
    scan: (prefix, through) => store.scan(prefix, through),
    writeBatch: (writes) => {
      try {
        return store.writeBatch(writes);
      } catch {
        throw kvFailure(wrongRevision());
      }
    },
  };
  const modules = coreModules();
  // The memory store takes every write it is sent: nothing is sent again, so no pause.
  const pause = () => false;
  const root = await instantiate((name) => modules[name], importObject({ kv, now: wallNanos, pause, casRetry() {} }));
  const request = { file: '/bench/m', agentId: 'bench', ttl: 30_000_000_000n, checkoutPath: '', mode: 'exclusive' };
  root.holds.announce(request, 300_000_000_000n, undefined);
  const direct = await timed(N, () => root.holds.whoHas('/bench/m', undefined));
  const directAnnounce = await timed(N, () => root.holds.announce(request, 300_000_000_000n, undefined));
  const m = await Manager.open(store, { ttlMax: '5m', instances: 1 });
  try {
    return {
      component_call_direct_who_has: direct,
      component_call_direct_announce_renew: directAnnounce,
      manager_who_has_memory: await timed(N, () => m.whoHas('/bench/m')),
      manager_announce_renew_memory: await timed(N, () => m.announce('/bench/m', 'bench', '30s')),
    };
  } finally {
    await m.close();
  }
}

async function bridgeRoundTrip() {
  const channel = new MessageChannel();
  const flag = new SharedArrayBuffer(4);
  serveRequests(channel.port2, flag, async () => ({ ok: 1n }));
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(new URL('./src/bridge.js', import.meta.url).href)}).then(({ SyncRequester }) => {
      const r = new SyncRequester(workerData.port, workerData.flag, 5000);
      for (let i = 0; i < 100; i++) r.request({ op: 'x' });
      const samples = [];
      for (let i = 0; i < workerData.n; i++) {
        const t = performance.now();
        r.request({ op: 'x' });
        samples.push((performance.now() - t) * 1000);
      }
      parentPort.postMessage(samples);
    });`;
  const worker = new Worker(source, {
    eval: true,
    workerData: { port: channel.port1, flag, n: N },
    transferList: [channel.port1],
  });
  const samples = await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
  channel.port2.close();
  return summary(samples);
}

let server;
let url = args.nats;
if (!url) {
  server = await NatsServer.start();
  url = server.url;
}
try {
  const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url)));
  const results = {
    node: process.version,
    jco: pkg.devDependencies['@bytecodealliance/jco'],
    'nats.js': pkg.dependencies['@nats-io/jetstream'],
    raw_revision_gated_write_nats_js: await rawWrite(url),
    ...(await announces(url)),
    ...(await memoryCalls()),
    bridge_round_trip_worker_to_main: await bridgeRoundTrip(),
  };
  console.log(JSON.stringify(results, null, 1));
} finally {
  await server?.dispose();
}
