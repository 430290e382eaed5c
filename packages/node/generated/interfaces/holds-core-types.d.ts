/** @module Interface holds:core/types@0.1.0 **/
export type Timestamp = bigint;
export type Duration = bigint;
export interface Hold {
  agentId: string,
  claimedAt: Timestamp,
  expiresAt: Timestamp,
  checkoutPath: string,
  ttl: Duration,
}
export interface Claim {
  file: string,
  hold: Hold,
  revision: bigint,
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
export type Error = ErrorHeldByAnother | ErrorInvalidInput | ErrorCasExhausted | ErrorCorruptEntry | ErrorStore | ErrorClosed;
export interface ErrorHeldByAnother {
  tag: 'held-by-another',
  val: Claim,
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
export interface ErrorClosed {
  tag: 'closed',
}
export type ChangeKind = ChangeKindAnnounced | ChangeKindReleased | ChangeKindExpired;
export interface ChangeKindAnnounced {
  tag: 'announced',
  val: Hold,
}
export interface ChangeKindReleased {
  tag: 'released',
}
export interface ChangeKindExpired {
  tag: 'expired',
}
export interface Event {
  file: string,
  revision: bigint,
  kind: ChangeKind,
}
