// A JetStream KV bucket over the official NATS JS client, written to directly
// so every conditional write and delete is one publish and carries a
// per-message TTL. Mirrors the Rust host (host/src/kv/jetstream.rs): raw
// publishes to `$KV.<bucket>.<key>` gated by Nats-Expected-Last-Subject-Sequence,
// Nats-TTL on holds when the bucket allows per-message TTLs, `KV-Operation: DEL`
// markers (plus `Holds-Removal: expired` for a sweep's). Reads and the watch
// keep the raw headers and name each message's operation by the component's
// marker-headers table, so a server `MaxAge` marker reads as `expire` (the
// @nats-io/kv layer would report it as a purge).
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { errors, headers, nanos } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { wallNanos } from '../clock.js';
import { markerHeaders } from '../pool.js';
import { CAUGHT_UP, NotStored, Unavailable, Unsupported, WrongRevision } from './errors.js';
import * as releaseLog from './release-log.js';

export const KV_OPERATION = 'KV-Operation';
export const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';
export const TTL = 'Nats-TTL';
export const BATCH_ID = 'Nats-Batch-Id';
export const BATCH_SEQUENCE = 'Nats-Batch-Sequence';
export const BATCH_COMMIT = 'Nats-Batch-Commit';
/** The server's default limit of messages in one atomic batch. */
const MAX_BATCH = 1000;
/** Our own marker header: a sweep (not the server) expired the hold. */
export const HOLDS_REMOVAL = 'Holds-Removal';
/** One entry per key, as the Go package (see the Rust host's HISTORY). */
const HISTORY = 1;
/** A key prefix of whole subject tokens (`a.`, `a.b.`): a filter subject `<prefix>>` finds its keys. */
const WHOLE_TOKENS = /^([^.*>\s]+\.)+$/;

/** A request nobody answered: the client throws the error itself or wraps it. */
const isNoResponders = (e) => e instanceof errors.NoRespondersError || e?.cause instanceof errors.NoRespondersError;

/** nats-server `JSStream...` error codes a publish or read can meet. */
export const ServerCodes = Object.freeze({
  WRONG_LAST_SEQUENCE: 10071,
  NO_MESSAGE_FOUND: 10037,
  /** The stream was not created with allow_atomic. */
  ATOMIC_PUBLISH_DISABLED: 10174,
});

/** Server answers to a write it took nothing of, and why (the WIT `unsent`). */
const UNSENT = new Map([
  // A replicated stream's leader refused a conditional write WITHOUT comparing:
  // another write to the subject is in flight (one that will land, or one that
  // landed, often the caller's own, whose mark is not cleared). Never a lost race.
  [10164, 'busy'],
  // A new leader cannot check the expected sequence yet.
  [10163, 'leader-changing'],
  [JetStreamApiCodes.StreamNotFound, 'no-stream'],
]);

/** Nobody answered the publish: no stream (the JS client says JetStreamNotEnabled). */
const noStreamAnswered = (e) => isNoResponders(e) || e?.name === 'JetStreamNotEnabled';

/**
 * What the server's answer to one send of a write means when it stored
 * nothing: WrongRevision (the key moved), NotStored (nothing taken; the
 * component decides whether to send it again), or undefined (neither). `e` is
 * the client's error, or a PubAck's `{ code, message }`.
 */
export function refusal(e, key) {
  if (e?.code === ServerCodes.WRONG_LAST_SEQUENCE) return new WrongRevision(key);
  const why = UNSENT.get(e?.code) ?? (noStreamAnswered(e) ? 'no-stream' : undefined);
  return why && new NotStored(why, e.message);
}

function serverAtLeast(version, wantedMinor) {
  const [major, minor] = String(version)
    .replace(/^v/, '')
    .split(/[.-]/)
    .map((p) => Number.parseInt(p, 10) || 0);
  return major > 2 || (major === 2 && minor >= wantedMinor);
}

/** 2.11.0 and later accept Nats-TTL and limit markers. */
export const serverSupportsTtl = (version) => serverAtLeast(version, 11);

/** 2.12.0 and later take atomic batch publishes (on streams with allow_atomic). */
export const serverSupportsAtomic = (version) => serverAtLeast(version, 12);

/**
 * The operation a stored message records, from its headers (a MsgHdrs or
 * undefined) by the component's marker-headers table `rules`: the first rule
 * whose header (name exact) the message carries with that value; none, a put.
 */
export function operationOf(h, rules) {
  const rule = h && rules.find(({ name, value }) => h.values(name).includes(value));
  return rule?.operation ?? 'put';
}

export class JetStreamStore {
  constructor(nc, jsm, bucket, info, opTimeoutMs, markers) {
    const config = info.config;
    this.nc = nc;
    this.markers = markers;
    this.jsm = jsm;
    this.js = jetstream(nc, { timeout: opTimeoutMs });
    this.bucket = bucket;
    this.stream = `KV_${bucket}`;
    this.prefix = `$KV.${bucket}.`;
    this.opTimeoutMs = opTimeoutMs;
    this.server = `nats-server ${nc.info?.version} at ${nc.getServer()}`;
    this.expiresEntries =
      serverSupportsTtl(nc.info?.version) && config.allow_msg_ttl === true && config.max_msgs_per_subject === 1;
    this.maxAge = BigInt(config.max_age ?? 0);
    this.limits = {
      maxMessages: BigInt(config.max_msgs ?? -1),
      maxBytes: BigInt(config.max_bytes ?? -1),
      maxMessagesPerKey: BigInt(config.max_msgs_per_subject ?? -1),
      discardOld: (config.discard ?? 'old') === 'old',
      discardNewPerKey: config.discard_new_per_subject === true,
    };
    // A direct get may be answered by a lagging follower: read through the
    // leader on a replicated bucket.
    this.replicas = config.num_replicas ?? 1;
    this.direct = config.allow_direct === true && this.replicas <= 1;
    // Multi-file claims are one atomic batch publish; cleared if the server says
    // the stream does not take them (a bucket made by the Go package).
    this.atomic = serverSupportsAtomic(nc.info?.version) && config.allow_atomic === true;
    this.connected = true;
    this.watchStatus();
  }

  /** Connect and create the bucket, or attach to it as it is. */
  static async open({ servers, bucket, maxAge, replicas = 1, opTimeoutMs = 5000, natsOptions = {} }) {
    const markers = await markerHeaders();
    let nc;
    try {
      // Reconnect forever once connected; the first connection must succeed in time.
      nc = await connect({ servers, timeout: opTimeoutMs, maxReconnectAttempts: -1, ...natsOptions });
    } catch (e) {
      throw new Unavailable(`connecting to ${redact(servers)}: ${redact(e.message)}`);
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: opTimeoutMs, checkAPI: false });
      const info = await createOrAttach(nc, jsm, bucket, BigInt(maxAge), replicas);
      return new JetStreamStore(nc, jsm, bucket, info, opTimeoutMs, markers);
    } catch (e) {
      await nc.close().catch(() => {});
      if (e instanceof Unavailable) throw e;
      throw new Unavailable(`opening bucket ${bucket}: ${e.message}`);
    }
  }

  async watchStatus() {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.connected = false;
      else if (s.type === 'reconnect') this.connected = true;
    }
  }

  describe() {
    return `JetStream bucket ${this.bucket} on ${this.server}`;
  }

  subject(key) {
    return this.prefix + key;
  }

  requireConnection(what) {
    // While disconnected the client buffers a publish and sends it on
    // reconnect, long after the call reported failure: refuse instead.
    if (this.nc.isClosed() || !this.connected) {
      const state = this.nc.isClosed() ? 'closed' : 'disconnected';
      throw new Unavailable(`not connected to ${this.server} (${state}); ${what}`);
    }
  }

  // -- the kv import (async; the bridge makes it synchronous for the component) --

  async get(key) {
    this.requireConnection('nothing was read');
    let m;
    try {
      if (this.direct) {
        m = await this.jsm.direct.getMessage(this.stream, { last_by_subj: this.subject(key) });
      } else {
        m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(key) });
      }
    } catch (e) {
      if (e?.code === ServerCodes.NO_MESSAGE_FOUND) m = null;
      else throw new Unavailable(`get failed: ${e.message}`);
    }
    if (!m) return { found: false, value: new Uint8Array(0), revision: 0n, operation: 'put' };
    return {
      found: true,
      value: m.data ?? new Uint8Array(0),
      revision: BigInt(m.seq),
      operation: operationOf(m.header, this.markers),
      created: m.time ? BigInt(m.time.getTime()) * 1_000_000n : wallNanos(),
    };
  }

  writeIfRevision(key, value, expected, ttlSeconds) {
    const h = headers();
    h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expected));
    if (this.expiresEntries && ttlSeconds > 0) h.set(TTL, `${Math.max(ttlSeconds, 1)}s`);
    return this.publish(key, value, h);
  }

  async deleteIfRevision(key, expected, why, note) {
    const h = headers();
    h.set(KV_OPERATION, 'DEL');
    h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expected));
    if (why === 'expired') h.set(HOLDS_REMOVAL, 'expired');
    // KV readers (Go's too) ignore a delete marker's payload.
    const revision = await this.publish(key, note?.length ? note : undefined, h);
    if (why === 'released') {
      // After the marker, so only releases that happened are recorded; a failed
      // record does not undo (or fail) the release: it is logged.
      try {
        await releaseLog.record(this.js, this.jsm, this.bucket, this.replicas, key, revision, note);
      } catch (e) {
        console.warn(
          `holds: release of ${key} (revision ${revision}) not recorded in the release log: ${e?.message ?? e}`,
        );
      }
    }
    return revision;
  }

  /** Every read at once: the round trips overlap. */
  getMany(keys) {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  /**
   * One atomic batch publish (ADR-50): each message carries its own
   * Nats-Expected-Last-Subject-Sequence (and Nats-TTL), checked by the server at
   * the commit, all or none. All but the commit are plain core publishes (the
   * JS client has no batch API here, and a JetStream publish would wait for an
   * ack the server does not send), so the batch is one round trip.
   */
  async writeBatch(writes) {
    if (!this.atomic) throw new Unsupported(`bucket ${this.bucket} takes no atomic batches`);
    if (writes.length === 0) return [];
    if (writes.length > MAX_BATCH)
      throw new Unsupported(`${writes.length} writes are more than a batch of ${MAX_BATCH}`);
    this.requireConnection('nothing was written');
    const batch = `holds-${randomUUID().replaceAll('-', '')}`;
    const last = writes.length - 1;
    let reply;
    try {
      for (const [i, w] of writes.entries()) {
        const h = headers();
        h.set(BATCH_ID, batch);
        h.set(BATCH_SEQUENCE, String(i + 1));
        h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(w.expected));
        if (this.expiresEntries && w.ttlSeconds > 0) h.set(TTL, `${Math.max(w.ttlSeconds, 1)}s`);
        if (i < last) {
          this.nc.publish(this.subject(w.key), w.value, { headers: h });
        } else {
          h.set(BATCH_COMMIT, '1');
          reply = await this.nc.request(this.subject(w.key), w.value, { headers: h, timeout: this.opTimeoutMs });
        }
      }
    } catch (e) {
      if (e?.name === 'TimeoutError')
        throw new Unavailable(`the batch's commit got no answer within ${this.opTimeoutMs} ms`);
      // No stream listens on the subject (for a moment after a replicated
      // bucket is created): an uncommitted batch is never applied.
      throw refusal(e, writes[0].key) ?? new Unavailable(`batch publish failed: ${e?.message ?? e}`);
    }
    let ack;
    try {
      ack = JSON.parse(new TextDecoder().decode(reply.data));
    } catch {
      throw new Unavailable(`the batch's commit answered no PubAck: ${reply.string().slice(0, 200)}`);
    }
    if (ack.error) {
      const { err_code: code, description } = ack.error;
      if (code === ServerCodes.ATOMIC_PUBLISH_DISABLED) {
        this.atomic = false;
        throw new Unsupported(`bucket ${this.bucket}: ${description}`);
      }
      throw (
        refusal({ code, message: description }, writes[0].key) ??
        new Unavailable(`batch commit refused: ${description} (error ${code})`)
      );
    }
    const { seq, count } = ack;
    if (!Number.isInteger(seq) || count !== writes.length || seq < count) {
      throw new Unavailable(`the batch's commit answered ${JSON.stringify(ack)} for ${writes.length} writes`);
    }
    // A committed batch is stored as consecutive messages.
    return writes.map((_, i) => BigInt(seq - count + 1 + i));
  }

  /** An unconditional write, as another client would make it (tests). */
  put(key, value) {
    return this.publish(key, value, headers());
  }

  /** One send of a write: its revision, or the error its answer means. */
  async publish(key, payload, h) {
    this.requireConnection('nothing was written');
    try {
      const ack = await this.js.publish(this.subject(key), payload, { headers: h });
      return BigInt(ack.seq);
    } catch (e) {
      if (e?.name === 'TimeoutError') throw new Unavailable(`publish timed out after ${this.opTimeoutMs} ms`);
      throw refusal(e, key) ?? new Unavailable(`publish failed: ${e?.message ?? e}`);
    }
  }

  /**
   * `[{ key, entry }]`: the latest entry of every key that starts with `prefix`
   * and holds a value (markers left out), from a fresh replay of the bucket as
   * the watch starts it: every change the stream had when the replay began is
   * in view, so every one up to `through` (a revision the caller has seen).
   */
  async scan(prefix, _through) {
    const what = `scanning the keys under ${JSON.stringify(prefix)}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opTimeoutMs);
    const found = [];
    try {
      for await (const item of this.watch({ signal: abort.signal, prefix })) {
        if (item === CAUGHT_UP) return found;
        const [key, entry] = item;
        if (entry.operation === 'put') found.push({ key, entry });
      }
    } catch (e) {
      throw new Unavailable(`${what}: ${e.message}`);
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    throw new Unavailable(`${what} took over ${this.opTimeoutMs} ms`);
  }

  /** The consumer's filter subject for the keys that start with `prefix`: the
   * keys under it when it ends a token, else every key. */
  filterFor(prefix) {
    return WHOLE_TOKENS.test(prefix) ? `${this.prefix}${prefix}>` : `${this.prefix}>`;
  }

  /**
   * Every key's latest entry, CAUGHT_UP, then live changes (an ordered push
   * consumer). `prefix`: only the keys that start with it.
   */
  async *watch({ signal, prefix = '' } = {}) {
    this.requireConnection('cannot watch');
    let consumer;
    let messages;
    const stop = () => messages?.stop();
    signal?.addEventListener('abort', stop);
    try {
      consumer = await this.js.consumers.getPushConsumer(this.stream, {
        deliver_policy: DeliverPolicy.LastPerSubject,
        ack_policy: AckPolicy.None,
        filter_subject: this.filterFor(prefix),
        flow_control: true,
        idle_heartbeat: nanos(5000),
      });
      const info = await consumer.info(true);
      // consume() starts a heartbeat timer before it subscribes; a subscribe
      // refused by a closing connection would leave that timer running forever.
      if (this.nc.isClosed() || this.nc.isDraining()) throw new Unavailable('the connection closed; cannot watch');
      messages = await consumer.consume();
      if (signal?.aborted) return;
      let caughtUp = info.num_pending === 0;
      let seen = 0;
      if (caughtUp) yield CAUGHT_UP;
      for await (const m of messages) {
        const entry = {
          found: true,
          value: m.data ?? new Uint8Array(0),
          revision: BigInt(m.info.streamSequence),
          operation: operationOf(m.headers, this.markers),
          created: BigInt(m.info.timestampNanos ?? 0) || wallNanos(),
        };
        const key = m.subject.slice(this.prefix.length);
        if (key.startsWith(prefix)) yield [key, entry];
        seen += 1;
        if (!caughtUp && (m.info.pending === 0 || seen >= info.num_pending)) {
          caughtUp = true;
          yield CAUGHT_UP;
        }
      }
      if (signal?.aborted) return;
      throw new Unavailable('the watch ended');
    } catch (e) {
      if (e instanceof Unavailable) throw e;
      throw new Unavailable(`the watch failed: ${e?.message ?? e}`);
    } finally {
      signal?.removeEventListener('abort', stop);
      messages?.stop();
      await consumer?.delete?.().catch(() => {});
    }
  }

  async close() {
    if (this.nc.isClosed()) return;
    // The drain's deadline is cleared once it is done: a pending timer would
    // keep the process alive for the rest of the op timeout.
    let deadline;
    const late = new Promise((resolve) => {
      deadline = setTimeout(resolve, this.opTimeoutMs);
    });
    try {
      await Promise.race([this.nc.drain().catch(() => {}), late]);
    } finally {
      clearTimeout(deadline);
    }
    if (!this.nc.isClosed()) await this.nc.close().catch(() => {});
  }
}

/** Server URLs (one, or a list) with every `user:password@` replaced by `***@`. */
export function redact(servers) {
  const text = Array.isArray(servers) ? servers.join(', ') : String(servers);
  return text.replace(/(?<=:\/\/)[^/@\s]*@/g, '***@');
}

async function createOrAttach(nc, jsm, bucket, maxAge, replicas) {
  const name = `KV_${bucket}`;
  try {
    return await jsm.streams.info(name);
  } catch (e) {
    if (e?.name !== 'StreamNotFoundError') throw new Unavailable(`opening bucket ${bucket}: ${e.message}`);
  }
  const ttlCapable = serverSupportsTtl(nc.info?.version);
  const seconds = 1_000_000_000n;
  // The configuration the Rust host (async-nats) creates, field for field.
  const config = {
    name,
    subjects: [`$KV.${bucket}.>`],
    retention: RetentionPolicy.Limits,
    max_consumers: -1,
    max_msgs: -1,
    max_bytes: -1,
    max_age: Number(maxAge),
    max_msgs_per_subject: HISTORY,
    max_msg_size: -1,
    discard: DiscardPolicy.New,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: Number(maxAge && maxAge < 120n * seconds ? maxAge : 120n * seconds),
    allow_direct: true,
    mirror_direct: false,
    sealed: false,
    deny_delete: true,
    deny_purge: false,
    allow_rollup_hdrs: true,
  };
  if (ttlCapable) {
    config.allow_msg_ttl = true;
    config.subject_delete_marker_ttl = Number(maxAge > seconds ? maxAge : seconds);
  }
  // Atomic batches for multi-file claims (what the Rust host sets too).
  if (serverSupportsAtomic(nc.info?.version)) config.allow_atomic = true;
  try {
    return await jsm.streams.add(config);
  } catch (create) {
    // Another process may have created it first.
    try {
      return await jsm.streams.info(name);
    } catch {
      throw new Unavailable(`creating bucket ${bucket}: ${create.message}`);
    }
  }
}
