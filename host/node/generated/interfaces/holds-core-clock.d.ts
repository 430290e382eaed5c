/** @module Interface holds:core/clock@0.3.0 **/
export function now(): Timestamp;
export function pause(after: Duration): boolean;
export type Timestamp = import('./holds-core-types.js').Timestamp;
export type Duration = import('./holds-core-types.js').Duration;
