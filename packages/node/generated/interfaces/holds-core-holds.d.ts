/** @module Interface holds:core/holds@0.1.0 **/
export function announce(request: AnnounceRequest, ttlMax: Duration, observed: Entry | undefined): Claim;
export function release(file: string, agentId: string, observed: Entry | undefined): ReleaseOutcome;
export function whoHas(file: string, observed: Entry | undefined): Claim | undefined;
export function keyForFile(file: string): string;
export function fileForKey(key: string): string;
export type Duration = import('./holds-core-types.js').Duration;
export type Hold = import('./holds-core-types.js').Hold;
export type Claim = import('./holds-core-types.js').Claim;
export type Error = import('./holds-core-types.js').Error;
export type Entry = import('./holds-core-kv.js').Entry;
export interface AnnounceRequest {
  file: string,
  agentId: string,
  ttl: Duration,
  checkoutPath: string,
}
export type ReleaseOutcome = ReleaseOutcomeReleased | ReleaseOutcomeNotHeld;
export interface ReleaseOutcomeReleased {
  tag: 'released',
  val: bigint,
}
export interface ReleaseOutcomeNotHeld {
  tag: 'not-held',
}
