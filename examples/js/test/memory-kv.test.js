// The in-memory bucket itself keeps JetStream KV's rules; the component tests rely on them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryKv, wrongRevision } from '../src/memory-kv.js';

const bytes = (s) => new TextEncoder().encode(s);
const isWrongRevision = (e) => e.payload?.tag === 'wrong-revision';

test('a key with no entry reads as not found, all zero', () => {
  const kv = new MemoryKv();
  assert.deepEqual(kv.get('k'), { found: false, value: new Uint8Array(0), revision: 0n, operation: 'put' });
});

test('one revision sequence for the whole bucket', () => {
  const kv = new MemoryKv();
  assert.equal(kv.writeIfRevision('a', bytes('1'), 0n, 0), 1n);
  assert.equal(kv.writeIfRevision('b', bytes('1'), 0n, 0), 2n);
  assert.equal(kv.writeIfRevision('a', bytes('2'), 1n, 0), 3n);
  assert.equal(kv.lastRevision, 3n);
  assert.deepEqual(kv.get('a'), { found: true, value: bytes('2'), revision: 3n, operation: 'put' });
});

test('write-if-revision: 0 means no entry at all; anything else must be the latest revision', () => {
  const kv = new MemoryKv();
  kv.writeIfRevision('k', bytes('v1'), 0n, 30);
  assert.throws(() => kv.writeIfRevision('k', bytes('v2'), 0n, 30), isWrongRevision);
  assert.throws(() => kv.writeIfRevision('k', bytes('v2'), 2n, 30), isWrongRevision);
  assert.deepEqual(kv.get('k').value, bytes('v1'), 'a failed write changes nothing');
  assert.equal(kv.lastRevision, 1n, 'a failed write takes no revision');
  assert.equal(kv.ttlSeconds.get('k'), 30);
});

test('delete-if-revision leaves a marker with its own revision, gated like a write', () => {
  const kv = new MemoryKv();
  kv.writeIfRevision('k', bytes('v'), 0n, 0);
  kv.writeIfRevision('other', bytes('v'), 0n, 0);
  assert.throws(() => kv.deleteIfRevision('k', 2n, 'released'), isWrongRevision);
  assert.equal(kv.get('k').operation, 'put', 'a failed delete changes nothing');
  assert.equal(kv.deleteIfRevision('k', 1n, 'released'), 3n);
  assert.deepEqual(kv.get('k'), { found: true, value: new Uint8Array(0), revision: 3n, operation: 'delete' });
  // The marker is the key's latest entry: a write over it names its revision, not 0.
  assert.throws(() => kv.writeIfRevision('k', bytes('v'), 0n, 0), isWrongRevision);
  assert.equal(kv.writeIfRevision('k', bytes('v'), 3n, 0), 4n);
  assert.equal(kv.deleteIfRevision('k', 4n, 'expired'), 5n);
  assert.equal(kv.get('k').operation, 'expire');
});

test('fault injection fails the next call only, before it changes anything', () => {
  const kv = new MemoryKv();
  kv.failNext('writeIfRevision', wrongRevision());
  assert.throws(() => kv.writeIfRevision('k', bytes('v'), 0n, 0), isWrongRevision);
  assert.equal(kv.get('k').found, false);
  assert.equal(kv.writeIfRevision('k', bytes('v'), 0n, 0), 1n);
});
