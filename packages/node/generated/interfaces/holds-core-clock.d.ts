/** @module Interface holds:core/clock@0.2.0 **/
export function now(): Timestamp;
export type Timestamp = import('./holds-core-types.js').Timestamp;
