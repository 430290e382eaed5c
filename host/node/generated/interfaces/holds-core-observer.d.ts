/** @module Interface holds:core/observer@0.3.0 **/
export function casRetry(key: string, attempt: number): void;
