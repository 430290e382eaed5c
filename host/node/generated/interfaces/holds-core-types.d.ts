/** @module Interface holds:core/types@0.3.0 **/
export type Timestamp = bigint;
export type Duration = bigint;
/**
 * # Variants
 * 
 * ## `"exclusive"`
 * 
 * ## `"shared"`
 */
export type Mode = 'exclusive' | 'shared';
export interface Hold {
  agentId: string,
  claimedAt: Timestamp,
  expiresAt: Timestamp,
  checkoutPath: string,
  ttl: Duration,
  mode: Mode,
}
/**
 * # Variants
 * 
 * ## `"file"`
 * 
 * ## `"directory"`
 * 
 * ## `"glob"`
 */
export type Scope = 'file' | 'directory' | 'glob';
export interface Claim {
  file: string,
  scope: Scope,
  hold: Hold,
  revision: bigint,
}
export interface LostHold {
  file: string,
  revision: bigint,
  holder?: Claim,
}
export interface InvalidInput {
  field: string,
  reason: string,
}
export interface CorruptEntry {
  key: string,
  revision: bigint,
  reason: string,
}
export type Error = ErrorHeldByAnother | ErrorHeldByOthers | ErrorLost | ErrorInvalidInput | ErrorCasExhausted | ErrorCorruptEntry | ErrorStore;
export interface ErrorHeldByAnother {
  tag: 'held-by-another',
  val: Claim,
}
export interface ErrorHeldByOthers {
  tag: 'held-by-others',
  val: Array<Claim>,
}
export interface ErrorLost {
  tag: 'lost',
  val: LostHold,
}
export interface ErrorInvalidInput {
  tag: 'invalid-input',
  val: InvalidInput,
}
export interface ErrorCasExhausted {
  tag: 'cas-exhausted',
  val: number,
}
export interface ErrorCorruptEntry {
  tag: 'corrupt-entry',
  val: CorruptEntry,
}
export interface ErrorStore {
  tag: 'store',
  val: string,
}
export type ChangeKind = ChangeKindAnnounced | ChangeKindReleased | ChangeKindExpired;
export interface ChangeKindAnnounced {
  tag: 'announced',
  val: Hold,
}
export interface ChangeKindReleased {
  tag: 'released',
  val: string | undefined,
}
export interface ChangeKindExpired {
  tag: 'expired',
}
export interface Event {
  file: string,
  scope: Scope,
  revision: bigint,
  kind: ChangeKind,
}
