// The Node runner of the language-neutral conformance cases
// (tests/cases/cases.json; format: tests/cases/README.md).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { HoldsError, JetStreamStore, Manager, MemoryStore, OffsetClock, toNanos, wallNanos } from '../../src/index.js';
import { markerHeaders } from '../../src/pool.js';
import { operationOf } from '../../src/stores/jetstream.js';
import { goHoldJson } from './gowire.js';
import { RefusingStore } from './refusing.js';

export const CASES = new URL('../../../../tests/cases/cases.json', import.meta.url);
const FORMAT = 'holds-conformance/1';

export class CaseFailed extends Error {}

/** Why a store took nothing of a write (`refuse_writes`). */
const UNSENT = ['busy', 'leader-changing', 'no-stream'];

export function loadCases(path = CASES) {
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  if (doc.format !== FORMAT) throw new Error(`${path}: format ${doc.format}, expected ${FORMAT}`);
  return doc;
}

// -- values as the case language sees them (integers as BigInt) -------------------

const holdJson = (h) => ({
  agent_id: h.agentId,
  claimed_at: h.claimedAt,
  expires_at: h.expiresAt,
  checkout_path: h.checkoutPath,
  ttl: h.ttl,
  mode: h.mode,
});
const claimJson = (c) => (c ? { file: c.file, scope: c.scope, revision: c.revision, hold: holdJson(c.hold) } : null);
const eventJson = (e) => ({
  file: e.file,
  scope: e.scope,
  revision: e.revision,
  kind: e.kind,
  ...(e.hold ? { hold: holdJson(e.hold) } : {}),
  ...(e.forcedBy !== undefined ? { forced_by: e.forcedBy } : {}),
});
const claimedJson = (c) => ({ claims: c.claims.map(claimJson), atomic: c.atomic });
/** The API's file states as the case language names them. */
const STATE = {
  held: 'held',
  tokenMoved: 'token-moved',
  heldByAnother: 'held-by-another',
  shared: 'shared',
  vacant: 'vacant',
};
const checkJson = (c) => ({ file: c.file, state: STATE[c.state], claim: claimJson(c.claim) });
const upkeepJson = (u) => ({
  prune_every: u.pruneEvery,
  keep_hold: u.keepHold,
  keep_marker: u.keepMarker,
  sweep_retry: u.sweepRetry,
  concurrent_sweeps: BigInt(u.concurrentSweeps),
  restart_after: u.restartAfter,
});

export function errorJson(e) {
  switch (e?.name) {
    case 'HeldByAnother':
      return { error: 'held-by-another', holder: e.holder, claim: claimJson(e.claim) };
    case 'HeldByOthers':
      return { error: 'held-by-others', holders: e.holders, claims: e.claims.map(claimJson) };
    case 'Lost':
      return { error: 'lost', file: e.file, revision: e.revision, holder: claimJson(e.holder) };
    case 'InvalidInput':
      return { error: 'invalid-input', field: e.field, reason: e.reason };
    case 'CasExhausted':
      return { error: 'cas-exhausted', attempts: BigInt(e.attempts) };
    case 'CorruptEntry':
      return { error: 'corrupt-entry', key: e.key, revision: e.revision, reason: e.reason };
    case 'Closed':
      return { error: 'closed' };
    case 'ConfigError':
      return { error: 'config', message: e.message };
    case 'Lagged':
      return { error: 'lagged', buffer: BigInt(e.buffer) };
    case 'StoreError':
      return { error: 'store', message: e.message };
    case 'GuestError':
      return { error: 'guest', message: e.message };
    default:
      throw e;
  }
}

/** Integers as BigInt, everywhere (JSON numbers from the case file, results). */
function norm(v) {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  }
  return v;
}

const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}` : x));

function same(a, b) {
  a = norm(a);
  b = norm(b);
  if (typeof a !== typeof b) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && typeof a === 'object') {
    if (!b || typeof b !== 'object' || Array.isArray(b)) return false;
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return a === b;
}

// -- expressions and patterns ----------------------------------------------------------

function resolvePath(path, scope) {
  const [head, ...rest] = path.split('.');
  if (!(head in scope)) throw new CaseFailed(`reference to unknown name ${head}`);
  let value = scope[head];
  for (const part of rest) {
    if (value !== null && typeof value === 'object' && part in value) value = value[part];
    else throw new CaseFailed(`reference ${path}: no ${part} in ${show(value)}`);
  }
  return value;
}

export function evaluate(expr, scope) {
  if (expr && typeof expr === 'object' && '$' in expr) {
    let value = resolvePath(expr.$, scope);
    if ('plus' in expr) value = norm(value) + (typeof expr.plus === 'string' ? toNanos(expr.plus) : BigInt(expr.plus));
    return value;
  }
  if (expr && typeof expr === 'object' && 'duration' in expr) return toNanos(expr.duration);
  // e.g. a check's tokens: each item may be an expression
  if (Array.isArray(expr)) return expr.map((item) => evaluate(item, scope));
  return expr;
}

const COMPARE = { gt: (a, b) => a > b, ge: (a, b) => a >= b, lt: (a, b) => a < b, le: (a, b) => a <= b };

export function match(pattern, actual, scope, where = 'result') {
  if (pattern !== null && typeof pattern === 'object' && !Array.isArray(pattern)) {
    if ('$' in pattern || 'duration' in pattern) {
      const expected = evaluate(pattern, scope);
      return same(expected, actual) ? [] : [`${where}: expected ${show(expected)}, got ${show(actual)}`];
    }
    for (const [op, test] of Object.entries(COMPARE)) {
      if (op in pattern) {
        const bound = norm(evaluate(pattern[op], scope));
        const ok = typeof actual === 'bigint' && test(actual, bound);
        return ok ? [] : [`${where}: expected ${op} ${show(bound)}, got ${show(actual)}`];
      }
    }
    if ('ne' in pattern) {
      const other = evaluate(pattern.ne, scope);
      return same(other, actual) ? [`${where}: expected anything but ${show(other)}`] : [];
    }
    if ('len' in pattern) {
      const n = Array.isArray(actual) || typeof actual === 'string' ? actual.length : undefined;
      return n === pattern.len ? [] : [`${where}: expected length ${pattern.len}, got ${show(actual)}`];
    }
    if ('matches' in pattern) {
      const ok = typeof actual === 'string' && new RegExp(pattern.matches, 'u').test(actual);
      return ok ? [] : [`${where}: ${show(actual)} does not match ${pattern.matches}`];
    }
    if ('exactly' in pattern) {
      const inner = pattern.exactly;
      if (!actual || typeof actual !== 'object' || !same(Object.keys(actual).sort(), Object.keys(inner).sort())) {
        return [`${where}: expected exactly the keys ${Object.keys(inner)}, got ${show(actual)}`];
      }
      return match({ ...inner }, actual, scope, where);
    }
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) {
      return [`${where}: expected an object, got ${show(actual)}`];
    }
    return Object.entries(pattern).flatMap(([k, sub]) =>
      k in actual ? match(sub, actual[k], scope, `${where}.${k}`) : [`${where}.${k}: missing in ${show(actual)}`],
    );
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual) || actual.length !== pattern.length) {
      return [`${where}: expected ${pattern.length} items, got ${show(actual)}`];
    }
    return pattern.flatMap((p, i) => match(p, actual[i], scope, `${where}[${i}]`));
  }
  return same(pattern, actual) ? [] : [`${where}: expected ${show(pattern)}, got ${show(actual)}`];
}

// -- the raw bucket (another client) -------------------------------------------------------

class RawBucket {
  static async open(memory, url, bucket) {
    const raw = new RawBucket();
    raw.memory = memory;
    if (!memory) {
      raw.nc = await connect({ servers: url });
      raw.js = jetstream(raw.nc);
      raw.jsm = await jetstreamManager(raw.nc);
      raw.bucket = bucket;
      raw.markers = await markerHeaders();
    }
    return raw;
  }

  /** `fields`: header name to value, published with the message (JetStream only). */
  async put(key, value, fields) {
    if (this.memory) {
      if (fields) throw new CaseFailed('put_raw: headers are for JetStream only');
      return this.memory.put(key, value);
    }
    const h = headers();
    for (const [name, v] of Object.entries(fields ?? {})) h.set(name, v);
    return BigInt((await this.js.publish(`$KV.${this.bucket}.${key}`, value, { headers: h })).seq);
  }

  async get(key) {
    let found = false;
    let value = new Uint8Array(0);
    let revision = 0n;
    let operation = 'put';
    if (this.memory) {
      ({ found, value, revision, operation } = this.memory.get(key));
    } else {
      const m = await this.jsm.direct.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${key}` });
      if (m) [found, value, revision, operation] = [true, m.data, BigInt(m.seq), operationOf(m.header, this.markers)];
    }
    return { found, revision, operation, value: new TextDecoder().decode(value) };
  }

  async close() {
    await this.nc?.close();
  }
}

// -- the runner --------------------------------------------------------------------------------

export class CaseRunner {
  constructor(c, defaults, store, natsUrl) {
    this.case = c;
    this.store = store;
    this.natsUrl = natsUrl;
    this.ttlMax = c.ttl_max ?? defaults.ttl_max ?? '60s';
    this.within = defaults.within ?? '10s';
    this.bucket = `conf_${c.name.replace(/[^A-Za-z0-9]/g, '_').slice(0, 40)}_${randomBytes(4).toString('hex')}`;
    this.agents = new Map(
      c.agents.map((a) => [
        a.name,
        {
          name: a.name,
          ttlMax: a.ttl_max ?? this.ttlMax,
          chanBuffer: a.chan_buffer ?? 32,
          replica: a.replica ?? true,
          opTimeoutMs: a.op_timeout === undefined ? undefined : Number(toNanos(a.op_timeout)) / 1e6,
          opensAtStart: a.open ?? true,
          clock: new OffsetClock(toNanos(a.clock_offset ?? '0s')),
          manager: undefined,
          // The agent's store, when the case scripts its writes (`refuse_writes`).
          refusing: undefined,
          subscriptions: new Map(),
        },
      ]),
    );
    this.first = c.agents[0].name;
    this.memory = store === 'memory' ? new MemoryStore({ maxAge: toNanos(this.ttlMax) }) : undefined;
    this.scriptsWrites = c.steps.some((step) => step.do === 'refuse_writes');
    this.scope = {};
  }

  async openAgent(agent) {
    const options = {
      ttlMax: agent.ttlMax,
      clock: agent.clock,
      chanBuffer: agent.chanBuffer,
      replica: agent.replica,
      opTimeoutMs: agent.opTimeoutMs,
      log: () => {},
    };
    if (this.scriptsWrites) {
      agent.refusing = new RefusingStore(this.memory ?? (await this.openJetStream(agent)));
      agent.manager = await Manager.open(agent.refusing, options);
      return;
    }
    agent.manager = this.memory
      ? await Manager.open(this.memory, options)
      : await Manager.jetstream({ servers: this.natsUrl, bucket: this.bucket, ...options });
  }

  /** The agent's own JetStream store, as Manager.jetstream would open it. */
  async openJetStream(agent) {
    return JetStreamStore.open({
      servers: this.natsUrl,
      bucket: this.bucket,
      maxAge: toNanos(agent.ttlMax),
      opTimeoutMs: agent.opTimeoutMs,
    });
  }

  /** The agent's scripted store. */
  refusing(agent) {
    if (!agent.refusing) throw new CaseFailed(`agent ${agent.name}'s store takes no script`);
    return agent.refusing;
  }

  async run() {
    try {
      for (const agent of this.agents.values()) if (agent.opensAtStart) await this.openAgent(agent);
      this.raw = await RawBucket.open(this.memory, this.natsUrl, this.bucket);
      for (const [i, step] of this.case.steps.entries()) await this.step(i, step);
    } finally {
      for (const agent of this.agents.values()) await agent.manager?.close();
      // A manager leaves a store it was given open; the shared memory store needs no closing.
      if (!this.memory) for (const agent of this.agents.values()) await agent.refusing?.close();
      await this.raw?.close();
    }
  }

  async step(index, step) {
    const label = `step ${index} (${step.do})`;
    const agent = this.agents.get(step.agent ?? this.first);
    if (!agent) throw new CaseFailed(`${label}: unknown agent ${step.agent}`);
    let outcome;
    try {
      outcome = await this.execute(agent, step);
    } catch (e) {
      if (e instanceof CaseFailed) throw new CaseFailed(`${label}: ${e.message}`);
      throw e;
    }
    const expect = step.expect;
    const scope = { ...this.scope };
    let problems;
    if (outcome.error) {
      scope._ = outcome.error;
      problems =
        expect && 'error' in expect
          ? match(expect, outcome.error, scope, 'error')
          : [`failed with ${show(outcome.error)}`];
    } else {
      scope._ = outcome.result;
      if (expect && 'error' in expect) problems = [`expected error ${expect.error}, got ok ${show(outcome.result)}`];
      else if (expect && 'ok' in expect) problems = match(expect.ok, outcome.result, scope);
      else problems = [];
    }
    if (problems.length) throw new CaseFailed(`${label} ${JSON.stringify(step)}:\n  ${problems.join('\n  ')}`);
    if ('save' in step && !outcome.error) this.scope[step.save] = outcome.result;
  }

  arg(step, name, fallback) {
    if (!(name in step)) {
      if (fallback === undefined) throw new CaseFailed(`missing argument ${name}`);
      return fallback;
    }
    return evaluate(step[name], this.scope);
  }

  async execute(agent, step) {
    const ok = (result = null) => ({ result });
    const failed = (e) => ({ error: errorJson(e) });
    switch (step.do) {
      case 'sleep':
        await new Promise((r) => setTimeout(r, Number(toNanos(this.arg(step, 'for'))) / 1e6));
        return ok();
      case 'advance':
        agent.clock.advance(toNanos(this.arg(step, 'by')));
        return ok();
      case 'freeze_clock':
        agent.clock.freeze(BigInt(this.arg(step, 'at')));
        return ok();
      case 'open':
        try {
          await this.openAgent(agent);
          return ok();
        } catch (e) {
          return failed(e);
        }
      case 'put_raw':
        return ok(await this.putRaw(agent, step));
      case 'get_raw':
        return ok(await this.raw.get(await this.keyOf(agent, step)));
      case 'wait_event':
        return this.waitEvent(agent, step);
      case 'race':
        return ok(await this.race(step));
      case 'refuse_writes': {
        const answers = this.arg(step, 'answers');
        const unknown = answers.filter((why) => !UNSENT.includes(why));
        if (unknown.length) throw new CaseFailed(`answers: ${unknown} not one of ${UNSENT.join(', ')}`);
        this.refusing(agent).refuse(answers);
        return ok();
      }
      case 'writes_sent':
        return ok({ count: BigInt(this.refusing(agent).sent) });
      default:
        break;
    }
    const m = agent.manager;
    if (!m) throw new CaseFailed(`agent ${agent.name} is not open`);
    try {
      switch (step.do) {
        case 'announce':
          return ok(
            claimJson(
              await m.announce(this.arg(step, 'file'), this.arg(step, 'agent_id', agent.name), this.arg(step, 'ttl'), {
                checkout: this.arg(step, 'checkout', ''),
                mode: this.mode(step),
              }),
            ),
          );
        case 'release': {
          const r = await m.release(this.arg(step, 'file'), this.arg(step, 'agent_id', agent.name));
          return ok({ released: r.released, revision: r.revision ?? null });
        }
        case 'claim':
          return ok(
            claimedJson(
              await m.claim(this.arg(step, 'files'), this.arg(step, 'agent_id', agent.name), this.arg(step, 'ttl'), {
                checkout: this.arg(step, 'checkout', ''),
                mode: this.mode(step),
              }),
            ),
          );
        case 'renew':
          return ok(
            claimJson(
              await m.renew(
                this.arg(step, 'file'),
                this.arg(step, 'agent_id', agent.name),
                this.arg(step, 'ttl'),
                this.arg(step, 'revision'),
                { checkout: this.arg(step, 'checkout', ''), mode: this.mode(step) },
              ),
            ),
          );
        case 'check': {
          const checks = await m.check(
            this.arg(step, 'files'),
            this.arg(step, 'agent_id', agent.name),
            this.arg(step, 'tokens', []),
          );
          return ok(checks.map(checkJson));
        }
        case 'force_release': {
          const r = await m.forceRelease(this.arg(step, 'file'), this.arg(step, 'by'));
          return ok({ released: r.released, revision: r.revision ?? null });
        }
        case 'who_has':
          return ok(claimJson(await m.whoHas(this.arg(step, 'file'))));
        case 'holders':
          return ok((await m.holders(this.arg(step, 'file'))).map(claimJson));
        case 'list':
          return ok((await m.list()).map(claimJson));
        case 'identify':
          return ok(
            await m.identify(this.arg(step, 'paths'), {
              cwd: this.arg(step, 'cwd', '/'),
              workspace: this.arg(step, 'workspace', ''),
              checkout: this.arg(step, 'checkout', ''),
            }),
          );
        case 'key_for_file':
          return ok(await m.keyForFile(this.arg(step, 'file')));
        case 'file_for_key':
          return ok(await m.fileForKey(this.arg(step, 'key')));
        case 'probe':
          await m.probe();
          return ok();
        case 'upkeep':
          return ok(upkeepJson(m.hub.upkeep));
        case 'close':
          await m.close();
          return ok();
        case 'subscribe': {
          const sub = await m.subscribe();
          agent.subscriptions.set(this.arg(step, 'name'), sub);
          return ok({ snapshot: sub.takeSnapshot().map(eventJson) });
        }
        default:
          throw new CaseFailed(`unknown operation ${step.do}`);
      }
    } catch (e) {
      if (e instanceof HoldsError) return failed(e);
      throw e;
    }
  }

  /** A step's `mode` (optional: the manager's default), passed as given. */
  mode(step) {
    return 'mode' in step ? this.arg(step, 'mode') : undefined;
  }

  async keyOf(agent, step) {
    return 'key' in step ? this.arg(step, 'key') : agent.manager.keyForFile(this.arg(step, 'file'));
  }

  async putRaw(agent, step) {
    const key = await this.keyOf(agent, step);
    if (step.go_hold) {
      const g = step.go_hold;
      const claimedAt = wallNanos();
      const ttl = toNanos(g.ttl);
      const revision = await this.raw.put(key, goHoldJson(g.agent_id, claimedAt, ttl, g.checkout_path ?? '', g.extra));
      return { revision, claimed_at: claimedAt, expires_at: claimedAt + ttl };
    }
    const value = new TextEncoder().encode(this.arg(step, 'value'));
    return { revision: await this.raw.put(key, value, this.arg(step, 'headers', null)) };
  }

  async waitEvent(agent, step) {
    const sub = agent.subscriptions.get(this.arg(step, 'sub'));
    if (!sub) throw new CaseFailed(`agent ${agent.name} has no subscription ${step.sub}`);
    const deadline = performance.now() + Number(toNanos(this.arg(step, 'within', this.within))) / 1e6;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return { error: { error: 'timeout' } };
      let event;
      try {
        event = await sub.next(left);
      } catch (e) {
        if (e?.name === 'TimeoutError') return { error: { error: 'timeout' } };
        if (e instanceof HoldsError) return { error: errorJson(e) };
        throw e;
      }
      if (event === undefined) return { error: { error: 'ended' } };
      const seen = eventJson(event);
      if (!step.match || match(step.match, seen, this.scope).length === 0) return { result: seen };
    }
  }

  async race(step) {
    const names = this.arg(step, 'agents');
    const count = this.arg(step, 'count');
    const ttl = this.arg(step, 'ttl');
    const files = this.arg(step, 'files', null);
    const file = files === null ? this.arg(step, 'file') : undefined;
    const agentId = this.arg(step, 'agent_id');
    const at = (text, i) => text.replaceAll('{i}', String(i));
    const results = await Promise.all(
      Array.from({ length: Number(count) }, (_, i) => {
        const m = this.agents.get(names[i % names.length]).manager;
        const who = at(agentId, i);
        const call =
          files === null
            ? m.announce(at(file, i), who, ttl)
            : m.claim(
                files.map((f) => at(f, i)),
                who,
                ttl,
              );
        return call.catch((e) => e);
      }),
    );
    const counts = {};
    const revisions = new Set();
    for (const r of results) {
      const kind = r instanceof Error ? errorJson(r).error : 'ok';
      counts[kind] = (counts[kind] ?? 0n) + 1n;
      if (r instanceof Error) continue;
      for (const c of files === null ? [r] : r.claims) revisions.add(c.revision);
    }
    return { counts, distinct_revisions: BigInt(revisions.size) };
  }
}
