#!/usr/bin/env node
// A small holds agent on Node, driven by JSON lines: a manager on a JetStream
// bucket that takes commands on stdin and answers on stdout, and streams the
// events of its subscription. Used by the three-runtime test; handy by hand.
//
//   holds-agent --servers nats://127.0.0.1:4222 --bucket holds [--ttl-max 5m] [--agent node-agent] [--subscribe]
//
// stdin, one JSON object a line:
//   {"id": 1, "do": "announce", "file": "/w/a", "ttl": "30s"}   {"id": 2, "do": "release", "file": "/w/a"}
//   {"id": 3, "do": "who_has", "file": "/w/a"}                    {"id": 4, "do": "quit"}
//   {"id": 5, "do": "claim", "files": ["/w/a", "/w/b"], "ttl": "30s"}  (every file or none)
//   {"id": 6, "do": "holders", "file": "/w/a"}   (announce and claim take "mode": "exclusive" | "shared")
// stdout: {"ready": true} once open, then {"id", "ok": ...} or {"id", "error": {"kind", "message", "holder"?, "holders"?}}
// per command, and {"event": {"file", "scope", "revision", "kind", "agent"?}} per event (with --subscribe).
// A claim is {"file", "scope", "revision", "hold"}; scope is "file", "directory" or "glob".
// Integers (revisions, nanoseconds) are written as JSON numbers from BigInts.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { HoldsError, Manager } from '../src/index.js';

const { values: opts } = parseArgs({
  options: {
    servers: { type: 'string', default: '127.0.0.1:4222' },
    bucket: { type: 'string', default: 'holds' },
    'ttl-max': { type: 'string', default: '5m' },
    agent: { type: 'string', default: 'node-agent' },
    subscribe: { type: 'boolean', default: false },
  },
});

/** One JSON line; BigInts become plain JSON integers (exact, unlike Numbers). */
const line = (value) => {
  const text = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `\u0000big:${v}` : v));
  process.stdout.write(`${text.replace(/"\\u0000big:(-?\d+)"/g, '$1')}\n`);
};

const hold = (h) => ({
  agent_id: h.agentId,
  claimed_at: h.claimedAt,
  expires_at: h.expiresAt,
  checkout_path: h.checkoutPath,
  ttl: h.ttl,
  mode: h.mode,
});
const claim = (c) => (c ? { file: c.file, scope: c.scope, revision: c.revision, hold: hold(c.hold) } : null);

function failure(e) {
  if (!(e instanceof HoldsError)) throw e;
  const out = { kind: e.name, message: e.message };
  if (e.name === 'HeldByAnother') out.holder = claim(e.claim);
  if (e.name === 'HeldByOthers') out.holders = e.claims.map(claim);
  return out;
}

const manager = await Manager.jetstream({ servers: opts.servers, bucket: opts.bucket, ttlMax: opts['ttl-max'] });
let subscription;
if (opts.subscribe) {
  subscription = await manager.subscribe();
  (async () => {
    for await (const e of subscription) {
      line({
        event: {
          file: e.file,
          scope: e.scope,
          revision: e.revision,
          kind: e.kind,
          ...(e.hold ? { agent: e.hold.agentId } : {}),
        },
      });
    }
  })().catch((e) => line({ event_error: String(e) }));
}
line({ ready: true });

async function handle(command) {
  const agent = command.agent ?? opts.agent;
  switch (command.do) {
    case 'announce':
      return claim(
        await manager.announce(command.file, agent, command.ttl, {
          checkout: command.checkout ?? '',
          mode: command.mode,
        }),
      );
    case 'release': {
      const r = await manager.release(command.file, agent);
      return { released: r.released, revision: r.revision ?? null };
    }
    case 'claim': {
      const claimed = await manager.claim(command.files, agent, command.ttl, {
        checkout: command.checkout ?? '',
        mode: command.mode,
      });
      return { claims: claimed.claims.map(claim), atomic: claimed.atomic };
    }
    case 'who_has':
      return claim(await manager.whoHas(command.file));
    case 'holders':
      return (await manager.holders(command.file)).map(claim);
    default:
      throw new HoldsError(`unknown command ${command.do}`);
  }
}

for await (const text of createInterface({ input: process.stdin })) {
  if (!text.trim()) continue;
  const command = JSON.parse(text);
  if (command.do === 'quit') break;
  try {
    line({ id: command.id, ok: await handle(command) });
  } catch (e) {
    line({ id: command.id, error: failure(e) });
  }
}
subscription?.close();
await manager.close();
