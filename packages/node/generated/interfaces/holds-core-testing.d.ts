/** @module Interface holds:core/testing@0.1.0 **/
export function encodeHold(hold: Hold): Uint8Array;
export type Hold = import('./holds-core-types.js').Hold;
