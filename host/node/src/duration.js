// Durations as the API accepts them: '30s', '250ms', '1m30s', a BigInt of
// nanoseconds, or a number of milliseconds. Internally: BigInt nanoseconds.

const UNITS = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const PART = /(\d+)(?:\.(\d+))?(ns|us|µs|ms|s|m|h)/y;

export function toNanos(value) {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new RangeError(`negative duration: ${value}`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`not a duration: ${value}`);
    return BigInt(Math.round(value * 1e6));
  }
  if (typeof value !== 'string') throw new TypeError(`not a duration: ${String(value)}`);
  const s = value.trim();
  if (s === '0') return 0n;
  if (s === '') throw new RangeError('empty duration');
  let total = 0n;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m || m.index !== at)
      throw new RangeError(`not a duration: ${JSON.stringify(value)} (use e.g. 30s, 250ms, 1m30s)`);
    const unit = UNITS[m[3]];
    total += BigInt(m[1]) * unit;
    if (m[2]) total += (BigInt(m[2]) * unit) / 10n ** BigInt(m[2].length);
  }
  return total;
}

/** Milliseconds of a duration, as a number (for timers). */
export const toMillis = (value) => Number(toNanos(value)) / 1e6;
