/** @module Interface holds:core/holds@0.3.0 **/
export function announce(request: AnnounceRequest, ttlMax: Duration, observed: Entry | undefined): Claim;
export function release(file: string, agentId: string, observed: Entry | undefined): ReleaseOutcome;
export function whoHas(file: string, observed: Entry | undefined): Claim | undefined;
export function covering(file: string): Array<Claim>;
export function claimFiles(request: ClaimRequest, ttlMax: Duration, maxFiles: number, observed: Array<Entry | undefined>): Claimed;
export function renew(request: AnnounceRequest, revision: bigint, ttlMax: Duration): Claim;
export function check(files: Array<string>, agentId: string, tokens: BigUint64Array): Array<FileCheck>;
export function forceRelease(file: string, by: string, observed: Entry | undefined): ReleaseOutcome;
export function keyForFile(file: string): string;
export function fileForKey(key: string): string;
export function checkBucket(settings: BucketSettings, ttlMax: Duration): void;
export function identify(paths: Array<string>, place: Place): Array<Identity>;
export type Duration = import('./holds-core-types.js').Duration;
export type Hold = import('./holds-core-types.js').Hold;
export type Claim = import('./holds-core-types.js').Claim;
export type Error = import('./holds-core-types.js').Error;
export type Mode = import('./holds-core-types.js').Mode;
export type Entry = import('./holds-core-kv.js').Entry;
export interface AnnounceRequest {
  file: string,
  agentId: string,
  ttl: Duration,
  checkoutPath: string,
  mode: Mode,
}
export interface ClaimRequest {
  files: Array<string>,
  agentId: string,
  ttl: Duration,
  checkoutPath: string,
  mode: Mode,
}
export interface Claimed {
  claims: Array<Claim>,
  atomic: boolean,
}
export type FileState = FileStateHeld | FileStateTokenMoved | FileStateHeldByAnother | FileStateShared | FileStateVacant;
export interface FileStateHeld {
  tag: 'held',
  val: Claim,
}
export interface FileStateTokenMoved {
  tag: 'token-moved',
  val: Claim,
}
export interface FileStateHeldByAnother {
  tag: 'held-by-another',
  val: Claim,
}
export interface FileStateShared {
  tag: 'shared',
  val: Claim,
}
export interface FileStateVacant {
  tag: 'vacant',
}
export interface FileCheck {
  file: string,
  state: FileState,
}
export interface BucketSettings {
  bucket: string,
  maxAge: Duration,
  maxMessages: bigint,
  maxBytes: bigint,
  maxMessagesPerKey: bigint,
  discardOld: boolean,
  discardNewPerKey: boolean,
}
export interface Place {
  cwd: string,
  workspace: string,
  checkout: string,
}
export interface Identity {
  file: string,
  checkout: string,
}
export type ReleaseOutcome = ReleaseOutcomeReleased | ReleaseOutcomeNotHeld;
export interface ReleaseOutcomeReleased {
  tag: 'released',
  val: bigint,
}
export interface ReleaseOutcomeNotHeld {
  tag: 'not-held',
}
