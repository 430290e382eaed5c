// Types of the holds package's public API. The WIT value types (Hold, Claim,
// Entry, ...) are jco's, generated from holds:core@0.3.0 into generated/.
import type { Claim, Hold, Mode, Scope, Timestamp } from '../generated/interfaces/holds-core-types.js';
import type { Entry, KeyedEntry, Operation, Unsent } from '../generated/interfaces/holds-core-kv.js';

export type { Claim, Entry, Hold, KeyedEntry, Mode, Operation, Scope, Timestamp, Unsent };

/** '30s', '250ms', '1m30s'; a BigInt of nanoseconds; or a number of milliseconds. */
export type Duration = string | bigint | number;

export interface Clock {
  /** Now, ns since the Unix epoch (UTC). */
  now(): bigint;
}

/** The wall clock (shared with the component workers without a round trip). */
export class SystemClock implements Clock {
  now(): bigint;
}
/** The wall clock shifted by an adjustable offset; can be frozen. */
export class OffsetClock implements Clock {
  constructor(offset?: bigint);
  now(): bigint;
  advance(ns: bigint): void;
  freeze(at: bigint): void;
  unfreeze(): void;
}
/** A clock that stands still at an instant. */
export class FrozenClock extends OffsetClock {
  constructor(at: bigint);
  set(at: bigint): void;
}
export function wallNanos(): bigint;
export function toNanos(value: Duration): bigint;

export type EventKind = 'announced' | 'released' | 'expired';
/** A change subscribers see; `hold` is set for `announced`, `forcedBy` for a
 * `released` that was a force-release. `scope` says what `file` names, as in
 * `Claim`: 'file', 'directory' (a pattern ending in `/`) or 'glob'. */
export interface Event {
  file: string;
  scope: Scope;
  revision: bigint;
  kind: EventKind;
  hold?: Hold;
  forcedBy?: string;
}
/** What a multi-file claim took: one claim per distinct file, sorted by file;
 * `atomic`: one atomic write (false: announced one by one with rollback). */
export interface Claimed {
  claims: Claim[];
  atomic: boolean;
}
/** One file as holds names it: the path it keys (in the workspace) and the
 * checkout (worktree) it was seen through, empty outside any. */
export interface Identity {
  file: string;
  checkout: string;
}
/** `heldByAnother`: a hold of another agent, of either mode, covers the file;
 * `shared`: only the agent's own shared holds cover it (nobody may change it). */
export type FileState = 'held' | 'tokenMoved' | 'heldByAnother' | 'shared' | 'vacant';
/** One file of a check; `claim` is the live hold, if any. */
export interface FileCheck {
  file: string;
  state: FileState;
  claim?: Claim;
}
/** One conditional write of a batch (the kv import's `write`). */
export interface BatchWrite {
  key: string;
  value: Uint8Array;
  expected: bigint;
  ttlSeconds: number;
}
export type Release = { released: true; revision: bigint } | { released: false };
/** How a hold is placed: the checkout it is held from, and its mode
 * ('exclusive' by default; 'shared': other shared holds may cover the same
 * paths). Any other mode is InvalidInput (field 'mode'). */
export interface HoldOptions {
  checkout?: string;
  mode?: Mode;
}

export class HoldsError extends Error {}
export class HeldByAnother extends HoldsError {
  readonly claim: Claim;
  readonly holder: string;
}
export class HeldByOthers extends HoldsError {
  readonly claims: Claim[];
  readonly holders: string[];
}
export class Lost extends HoldsError {
  readonly file: string;
  readonly revision: bigint;
  readonly holder: Claim | undefined;
}
export class InvalidInput extends HoldsError {
  readonly field: string;
  readonly reason: string;
}
export class CasExhausted extends HoldsError {
  readonly attempts: number;
}
export class CorruptEntry extends HoldsError {
  readonly key: string;
  readonly revision: bigint;
  readonly reason: string;
}
export class StoreError extends HoldsError {}
export class Closed extends HoldsError {}
export class ConfigError extends HoldsError {}
export class GuestError extends HoldsError {}
export class Lagged extends HoldsError {
  readonly buffer: number;
}

/** What a store's kv operations throw. */
export class WrongRevision extends Error {}
/** One send of a write the store took nothing of: whether and when to send it
 * again is the component's call. `detail`: the store's answer. */
export class NotStored extends Error {
  constructor(why: Unsent, detail: string);
  readonly why: Unsent;
  readonly detail: string;
}
export class Unavailable extends Error {}
export class Unsupported extends Error {}

/** A store: the component's kv import (sync or async) plus a watch. Each write
 * is one send: one the store took nothing of throws NotStored, and the
 * component decides whether to send it again. */
export interface Store {
  readonly expiresEntries: boolean;
  /** ns; 0n: entries never age out. The component's upkeep plan for it says
   * how the manager's replica is pruned and its sweeps run. */
  readonly maxAge: bigint;
  describe(): string;
  get(key: string): Entry | Promise<Entry>;
  writeIfRevision(key: string, value: Uint8Array, expected: bigint, ttlSeconds: number): bigint | Promise<bigint>;
  deleteIfRevision(
    key: string,
    expected: bigint,
    why: 'released' | 'expired',
    note: Uint8Array,
  ): bigint | Promise<bigint>;
  getMany(keys: string[]): Entry[] | Promise<Entry[]>;
  /** All or none; throws Unsupported when the store cannot write atomically. */
  writeBatch(writes: BatchWrite[]): bigint[] | Promise<bigint[]>;
  /** The latest entry of every key that starts with `prefix` and holds a value
   * (markers and missing keys left out), in any order, from a view that
   * includes every change up to revision `through`. */
  scan(prefix: string, through: bigint): KeyedEntry[] | Promise<KeyedEntry[]>;
  put(key: string, value: Uint8Array): bigint | Promise<bigint>;
  watch(options?: { signal?: AbortSignal }): AsyncIterable<[string, Entry] | symbol>;
  close(): Promise<void>;
}

export class MemoryStore implements Store {
  constructor(options?: { maxAge?: bigint; name?: string });
  readonly expiresEntries: false;
  readonly maxAge: bigint;
  describe(): string;
  get(key: string): Entry;
  writeIfRevision(key: string, value: Uint8Array, expected: bigint, ttlSeconds: number): bigint;
  deleteIfRevision(key: string, expected: bigint, why: 'released' | 'expired', note?: Uint8Array): bigint;
  getMany(keys: string[]): Entry[];
  writeBatch(writes: BatchWrite[]): bigint[];
  scan(prefix: string, through: bigint): KeyedEntry[];
  put(key: string, value: Uint8Array): bigint;
  /** An unconditional marker, as another client's delete or purge. */
  remove(key: string, operation?: Operation): bigint;
  /** Make every kv call fail with `message` (undefined: answer again). */
  setUnavailable(message: string | undefined): void;
  watch(options?: { signal?: AbortSignal }): AsyncIterable<[string, Entry] | symbol>;
  close(): Promise<void>;
}

export class JetStreamStore implements Store {
  readonly expiresEntries: boolean;
  readonly maxAge: bigint;
  describe(): string;
  get(key: string): Promise<Entry>;
  writeIfRevision(key: string, value: Uint8Array, expected: bigint, ttlSeconds: number): Promise<bigint>;
  deleteIfRevision(key: string, expected: bigint, why: 'released' | 'expired', note?: Uint8Array): Promise<bigint>;
  getMany(keys: string[]): Promise<Entry[]>;
  writeBatch(writes: BatchWrite[]): Promise<bigint[]>;
  /** A fresh replay of the keys under `prefix` (as `list()` reads the bucket). */
  scan(prefix: string, through: bigint): Promise<KeyedEntry[]>;
  put(key: string, value: Uint8Array): Promise<bigint>;
  watch(options?: { signal?: AbortSignal }): AsyncIterable<[string, Entry] | symbol>;
  close(): Promise<void>;
}

export class Subscription implements AsyncIterable<Event> {
  /** The snapshot events not yielded yet (they will not be yielded). */
  takeSnapshot(): Event[];
  /** The next event; undefined when the subscription ended cleanly. With
   * `timeoutMs`, rejects with an Error named 'TimeoutError' when nothing comes. */
  next(timeoutMs?: number): Promise<Event | undefined>;
  [Symbol.asyncIterator](): AsyncIterator<Event>;
  readonly ended: boolean;
  /** Leave the manager at once; iteration ends after what is queued. */
  close(): void;
}

export interface ManagerOptions {
  /** The longest hold allowed, and a new bucket's max age. Default '5m'. */
  ttlMax?: Duration;
  clock?: Clock;
  /** Keep a replica of the bucket (one round trip per decision; the
   * component's scans answered from it once the watch has delivered what they
   * must see). Default true. */
  replica?: boolean;
  /** Events a subscriber may fall behind before it gets Lagged. Default 32. */
  chanBuffer?: number;
  /** Component workers (instances). Default 2. */
  instances?: number;
  /** Bound on each store operation, and on how long a call's writes are sent
   * again while the store takes nothing of them, ms. Default 5000. */
  opTimeoutMs?: number;
  /** The most files one claim may take. Default 16. */
  maxClaimFiles?: number;
  /** Where warnings go. Default console.warn. */
  log?: (line: string) => void;
}

export interface JetStreamOptions extends ManagerOptions {
  /** Default '127.0.0.1:4222'. */
  servers?: string | string[];
  /** [A-Za-z0-9_-]+. Default 'holds'. */
  bucket?: string;
  /** Copies of a bucket this call creates. Default 1. */
  replicas?: number;
  /** Passed to @nats-io/transport-node's connect (user, pass, token, tls, ...). */
  natsOptions?: Record<string, unknown>;
}

export class Manager {
  static jetstream(options?: JetStreamOptions): Promise<Manager>;
  static memory(options?: ManagerOptions): Promise<Manager>;
  static open(store: Store, options?: ManagerOptions): Promise<Manager>;
  readonly store: Store;
  readonly closed: boolean;
  /** `file`: a path, or a pattern (a directory ending in `/`, or a glob). */
  announce(file: string, agent: string, ttl: Duration, options?: HoldOptions): Promise<Claim>;
  release(file: string, agent: string): Promise<Release>;
  /** Every file or none; throws HeldByOthers naming every holder. */
  claim(files: string[], agent: string, ttl: Duration, options?: HoldOptions): Promise<Claimed>;
  /** Renew the hold written at `revision`; throws Lost when it is gone. */
  renew(file: string, agent: string, ttl: Duration, revision: bigint, options?: HoldOptions): Promise<Claim>;
  check(files: string[], agent: string, tokens?: bigint[]): Promise<FileCheck[]>;
  forceRelease(file: string, by: string): Promise<Release>;
  whoHas(file: string): Promise<Claim | undefined>;
  /** Every live hold that covers `file`, oldest revision first. */
  holders(file: string): Promise<Claim[]>;
  list(): Promise<Claim[]>;
  subscribe(): Promise<Subscription>;
  identify(paths: string[], place?: { cwd?: string; workspace?: string; checkout?: string }): Promise<Identity[]>;
  keyForFile(file: string): Promise<string>;
  fileForKey(key: string): Promise<string>;
  probe(): Promise<void>;
  setCasRetryObserver(observer: ((key: string, attempt: number) => void) | undefined): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
