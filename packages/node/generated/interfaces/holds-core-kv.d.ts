/** @module Interface holds:core/kv@0.1.0 **/
export function get(key: string): Entry;
export function writeIfRevision(key: string, value: Uint8Array, expected: bigint, ttlSeconds: number): bigint;
export function deleteIfRevision(key: string, expected: bigint, why: Removal): bigint;
/**
 * # Variants
 * 
 * ## `"released"`
 * 
 * ## `"expired"`
 */
export type Removal = 'released' | 'expired';
export type KvError = KvErrorWrongRevision | KvErrorUnavailable;
export interface KvErrorWrongRevision {
  tag: 'wrong-revision',
}
export interface KvErrorUnavailable {
  tag: 'unavailable',
  val: string,
}
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
