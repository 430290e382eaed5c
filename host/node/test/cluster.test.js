// The JetStream store on a 3-node cluster, on a bucket with 3 replicas: a
// revision conflict means the key moved (as the Rust host's tests/cluster.rs).
//
// A replicated stream's leader refuses a conditional write WITHOUT comparing
// (10164) while another write to the subject is in flight, and its reads show
// that write only once it is applied. Taken for a conflict, the refusal is
// followed by a read that still shows the revision the write named: a writer
// loses "races" to a write that has not landed: the store answers it
// not-stored (busy), which the component sends again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { JetStreamStore, NotStored, Unavailable, WrongRevision } from '../src/index.js';
import { NatsCluster } from './support/nats-server.js';

const WRITERS = 6;
const WRITES = 300;
let cluster;

before(async () => {
  cluster = await NatsCluster.start(3);
});
after(async () => {
  await cluster?.dispose();
});

/** `attempt()`, tried again on Unavailable or NotStored for up to 10 s. */
async function retried(attempt, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof Unavailable || e instanceof NotStored)) throw e;
      if (Date.now() >= deadline) throw new Unavailable(`${what}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * One store per node on a new R3 bucket, each connected with every node's URL,
 * its own node first (as if each agent ran next to a different node).
 */
async function openStores(bucket) {
  const stores = [];
  try {
    for (let node = 0; node < 3; node++) {
      const servers = [...cluster.urls.slice(node), ...cluster.urls.slice(0, node)];
      // Right after the cluster forms, placing an R3 stream can fail ("no
      // suitable peers") until every peer has reported in.
      const open = () =>
        JetStreamStore.open({
          servers,
          bucket,
          maxAge: 60_000_000_000n,
          replicas: 3,
          opTimeoutMs: 2000,
          natsOptions: { noRandomize: true },
        });
      stores.push(await retried(open, `opening the R3 bucket through n${node}`));
    }
    const info = await stores[0].jsm.streams.info(stores[0].stream);
    assert.equal(info.config.num_replicas, 3);
    // Until the new stream has a leader that every node routes writes to, a
    // publish meets no responders (a batch commit then fails): one write
    // through each connection first.
    for (const [node, store] of stores.entries()) {
      await retried(() => store.put(`ready-${node}`, new Uint8Array(0)), `a first write through n${node}`);
    }
    return stores;
  } catch (e) {
    await Promise.all(stores.map((s) => s.close()));
    throw e;
  }
}

/**
 * Six writers on three connections (one per node) write `keys` at the
 * revisions they just read, 300 times each: one conditional write or one
 * atomic batch. A conflict must be followed by a read showing at least one of
 * the keys moved; a write not stored (busy) is no conflict, and is counted.
 */
async function conflictsMeanTheKeysMoved(stores, keys) {
  const revisions = async (store) => (await store.getMany(keys)).map((e) => e.revision);
  const writer = async (w) => {
    const store = stores[w % stores.length];
    let [landed, conflicts, unmoved, unsent] = [0, 0, 0, 0];
    for (let i = 0; i < WRITES; i++) {
      const at = await revisions(store);
      const value = new TextEncoder().encode(`${w}/${i}`);
      try {
        if (keys.length === 1) await store.writeIfRevision(keys[0], value, at[0], 0);
        else await store.writeBatch(keys.map((key, k) => ({ key, value, expected: at[k], ttlSeconds: 0 })));
        landed++;
      } catch (e) {
        if (e instanceof NotStored) {
          unsent++;
          continue;
        }
        if (!(e instanceof WrongRevision)) throw new Error(`writer ${w}, write ${i}: ${e.message}`, { cause: e });
        conflicts++;
        const now = await revisions(store);
        if (now.every((r, k) => r === at[k])) unmoved++;
      }
    }
    return [landed, conflicts, unmoved, unsent];
  };
  const results = await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const shown = JSON.stringify(results);
  console.log(`${keys}: [landed, conflicts, unmoved, not stored] per writer: ${shown}`);
  assert.ok(
    results.some(([landed]) => landed > 0),
    shown,
  );
  assert.equal(
    results.reduce((sum, [, , unmoved]) => sum + unmoved, 0),
    0,
    `conflicts after which the keys were still at the revisions the write named ([landed, conflicts, unmoved, not stored] per writer): ${shown}`,
  );
}

test('a revision conflict on R3 means the key moved', async () => {
  const stores = await openStores('contended_single');
  try {
    await conflictsMeanTheKeysMoved(stores, ['k']);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

test('a refused batch on R3 means one of its keys moved', async () => {
  const stores = await openStores('contended_batch');
  try {
    assert.ok(stores.every((s) => s.atomic));
    await conflictsMeanTheKeysMoved(stores, ['k1', 'k2']);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});
