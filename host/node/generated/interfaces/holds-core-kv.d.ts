/** @module Interface holds:core/kv@0.3.0 **/
export function get(key: string): Entry;
export function writeIfRevision(key: string, value: Uint8Array, expected: bigint, ttlSeconds: number): bigint;
export function deleteIfRevision(key: string, expected: bigint, why: Removal, note: Uint8Array): bigint;
export function getMany(keys: Array<string>): Array<Entry>;
export function writeBatch(writes: Array<Write>): BigUint64Array;
export function scan(prefix: string, through: bigint): Array<KeyedEntry>;
export interface Write {
  key: string,
  value: Uint8Array,
  expected: bigint,
  ttlSeconds: number,
}
/**
 * # Variants
 * 
 * ## `"busy"`
 * 
 * ## `"leader-changing"`
 * 
 * ## `"no-stream"`
 */
export type Unsent = 'busy' | 'leader-changing' | 'no-stream';
export interface NotStored {
  why: Unsent,
  detail: string,
}
export type KvError = KvErrorWrongRevision | KvErrorNotStored | KvErrorUnavailable | KvErrorUnsupported;
export interface KvErrorWrongRevision {
  tag: 'wrong-revision',
}
export interface KvErrorNotStored {
  tag: 'not-stored',
  val: NotStored,
}
export interface KvErrorUnavailable {
  tag: 'unavailable',
  val: string,
}
export interface KvErrorUnsupported {
  tag: 'unsupported',
}
/**
 * # Variants
 * 
 * ## `"released"`
 * 
 * ## `"expired"`
 */
export type Removal = 'released' | 'expired';
/**
 * # Variants
 * 
 * ## `"put"`
 * 
 * ## `"delete"`
 * 
 * ## `"purge"`
 * 
 * ## `"expire"`
 */
export type Operation = 'put' | 'delete' | 'purge' | 'expire';
export interface Entry {
  found: boolean,
  value: Uint8Array,
  revision: bigint,
  operation: Operation,
}
export interface KeyedEntry {
  key: string,
  entry: Entry,
}
