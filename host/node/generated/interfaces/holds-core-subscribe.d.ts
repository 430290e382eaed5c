/** @module Interface holds:core/subscribe@0.3.0 **/
export function markerHeaders(): Array<MarkerHeader>;
export function upkeep(maxAge: Duration): UpkeepPlan;
export function interpret(change: Change): Interpretation;
export function sweep(key: string, observed: Entry): SweepOutcome;
export type Timestamp = import('./holds-core-types.js').Timestamp;
export type Duration = import('./holds-core-types.js').Duration;
export type Event = import('./holds-core-types.js').Event;
export type Error = import('./holds-core-types.js').Error;
export type Entry = import('./holds-core-kv.js').Entry;
export type Operation = import('./holds-core-kv.js').Operation;
export interface Change {
  key: string,
  entry: Entry,
  previous: Entry,
  snapshot: boolean,
}
export interface Interpretation {
  event?: Event,
  expiryCheckAt?: Timestamp,
  dropped?: string,
}
export type SweepOutcome = SweepOutcomeExpired | SweepOutcomeNotDue | SweepOutcomeNothing;
export interface SweepOutcomeExpired {
  tag: 'expired',
  val: bigint,
}
export interface SweepOutcomeNotDue {
  tag: 'not-due',
  val: Timestamp,
}
export interface SweepOutcomeNothing {
  tag: 'nothing',
}
export interface UpkeepPlan {
  pruneEvery: Duration,
  keepHold: Duration,
  keepMarker: Duration,
  sweepRetry: Duration,
  concurrentSweeps: number,
  restartAfter: Duration,
}
export interface MarkerHeader {
  name: string,
  value: string,
  operation: Operation,
}
