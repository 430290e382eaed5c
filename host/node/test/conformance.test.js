// Every case of tests/cases/cases.json, on the memory store and on a
// real JetStream bucket (one per case, on this file's nats-server).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CaseRunner, loadCases } from './support/conformance.js';
import { NatsServer } from './support/nats-server.js';

const doc = loadCases();
let server;

before(async () => {
  server = await NatsServer.start();
});
after(async () => {
  await server?.dispose();
});

test('case names are unique', () => {
  const names = doc.cases.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
});

for (const store of ['memory', 'jetstream']) {
  describe(store, () => {
    for (const c of doc.cases) {
      if (!(c.stores ?? ['memory', 'jetstream']).includes(store)) continue;
      test(c.name, async () => {
        await new CaseRunner(c, doc.defaults, store, server.url).run();
      });
    }
  });
}
