// The Go package's JSON for a hold, written here (not by the component) so a
// test can stage exactly what a Go agent would store.

/** Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros. */
export function rfc3339Nano(ns) {
  const seconds = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const tail = frac ? `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}` : '';
  return `${base}${tail}Z`;
}

export function goHoldJson(agentId, claimedAt, ttl, checkoutPath, extra = {}) {
  const fields = [
    ['agent_id', agentId],
    ['claimed_at', rfc3339Nano(claimedAt)],
    ['expires_at', rfc3339Nano(claimedAt + ttl)],
    ['checkout_path', checkoutPath],
    ['ttl', ttl],
    ...Object.entries(extra),
  ];
  const body = fields
    .map(([k, v]) => `${JSON.stringify(k)}:${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`)
    .join(',');
  return new TextEncoder().encode(`{${body}}`);
}
