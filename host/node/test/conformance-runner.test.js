// The conformance runner itself: its matcher rejects what it must, and a case
// whose expectation is wrong fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaseFailed, CaseRunner, evaluate, match } from './support/conformance.js';

const scope = { c: { revision: 3n, hold: { claimed_at: 10n, ttl: 30_000_000_000n } } };

const mismatches = [
  [{ a: 1 }, { a: 2n }],
  [{ a: 1 }, { b: 1n }],
  [{ exactly: { a: 1 } }, { a: 1n, b: 2n }],
  [{ gt: { $: 'c.revision' } }, 3n],
  [{ ge: 4 }, 3n],
  [{ lt: 3 }, 3n],
  [{ ne: 'announced' }, 'announced'],
  [{ $: 'c.hold.claimed_at', plus: '1ns' }, 10n],
  [{ duration: '30s' }, 30_000_000n],
  [[{ f: 1 }], [{ f: 1n }, { f: 2n }]],
  [{ len: 2 }, [1n]],
  [{ matches: '^[a-z]+$' }, 'A'],
  [null, { file: '/x' }],
  [false, 0n],
  [1, true],
];
for (const [pattern, actual] of mismatches) {
  test(`mismatch ${JSON.stringify(pattern)} is reported`, () => {
    assert.notDeepEqual(match(pattern, actual, scope), []);
  });
}

const matches = [
  [{ a: 1 }, { a: 1n, b: 2n }],
  [{ exactly: { a: { gt: 0 } } }, { a: 1n }],
  [{ gt: { $: 'c.revision' } }, 4n],
  [{ $: 'c.hold.claimed_at', plus: '1ns' }, 11n],
  [{ ttl: { duration: '30s' } }, { ttl: 30_000_000_000n }],
  [{ len: 1 }, [7n]],
  [null, null],
];
for (const [pattern, actual] of matches) {
  test(`match ${JSON.stringify(pattern)} is accepted`, () => {
    assert.deepEqual(match(pattern, actual, scope), []);
  });
}

const run = (steps, agents = [{ name: 'a' }]) => new CaseRunner({ name: 'wrong', agents, steps }, {}, 'memory').run();

test('a wrong expectation fails the case', async () => {
  await assert.rejects(
    run(
      [
        { agent: 'a', do: 'announce', file: '/w/a', ttl: '30s' },
        { agent: 'b', do: 'announce', file: '/w/a', ttl: '30s', expect: { ok: {} } },
      ],
      [{ name: 'a' }, { name: 'b' }],
    ),
    (e) => e instanceof CaseFailed && /held-by-another/.test(e.message),
  );
});

test('an unexpected success fails the case', async () => {
  await assert.rejects(
    run([{ do: 'announce', file: '/w/a', ttl: '30s', expect: { error: 'held-by-another' } }]),
    (e) => e instanceof CaseFailed && /expected error/.test(e.message),
  );
});

test('a missing event times out and fails', async () => {
  await assert.rejects(
    run([
      { do: 'subscribe', name: 's' },
      { do: 'wait_event', sub: 's', within: '200ms', expect: { ok: { kind: 'announced' } } },
    ]),
    (e) => e instanceof CaseFailed && /timeout/.test(e.message),
  );
});

test('array arguments are evaluated item by item', () => {
  assert.deepEqual(evaluate([{ $: 'c.revision' }, 7, { duration: '1s' }], scope), [3n, 7, 1_000_000_000n]);
});

test('announce and claim steps pass a mode; a holders step lists the covering holds; check names shared', async () => {
  const agents = [{ name: 'a' }, { name: 'b' }];
  const holders = {
    do: 'holders',
    file: '/w/a',
    expect: { ok: [{ hold: { agent_id: 'a' } }, { hold: { agent_id: 'b' } }] },
  };
  await run(
    [
      { agent: 'a', do: 'announce', file: '/w/a', ttl: '30s', mode: 'shared' },
      { agent: 'b', do: 'claim', files: ['/w/a'], ttl: '30s', mode: 'shared' },
      holders,
      { agent: 'b', do: 'release', file: '/w/a' },
      { agent: 'a', do: 'check', files: ['/w/a'], expect: { ok: [{ state: 'shared', claim: { file: '/w/a' } }] } },
      {
        agent: 'b',
        do: 'announce',
        file: '/w/a',
        ttl: '30s',
        mode: 'read',
        expect: { error: 'invalid-input', field: 'mode' },
      },
    ],
    agents,
  );
  await assert.rejects(
    run(
      [
        { agent: 'a', do: 'announce', file: '/w/a', ttl: '30s', mode: 'shared' },
        { agent: 'b', do: 'announce', file: '/w/a', ttl: '30s' },
        holders,
      ],
      agents,
    ),
    (e) => e instanceof CaseFailed && /held-by-others/.test(e.message),
    'without the mode the second hold is exclusive, and refused',
  );
  await assert.rejects(
    run([{ agent: 'a', do: 'announce', file: '/w/a', ttl: '30s', mode: 'shared' }, holders], agents),
    (e) => e instanceof CaseFailed && /step 1 \(holders\)/.test(e.message),
  );
});
