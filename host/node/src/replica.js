// The hub's replica: every key's latest entry as the watch delivered it, the
// entries this manager's calls wrote or read that the watch has not delivered
// yet ("ahead": they make hints and scans current at once, but are not
// events), a sorted index of their keys for scans by prefix, and the newest
// revision the watch delivered. Mirrors the Rust host's hub/replica.rs.

/** The index of the first of the sorted `keys` not below `key`. */
function lowerBound(keys, key) {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Replica {
  constructor() {
    this.clear();
  }

  clear() {
    this.watched = new Map();
    this.ahead = new Map();
    /** Every key of either map, sorted (UTF-16 code units, as `<` compares). */
    this.keys = [];
    /** The newest revision the watch delivered: it delivers in revision order,
     * so once it has replayed the bucket every change up to this is known. */
    this.delivered = 0n;
  }

  index(key) {
    if (this.watched.has(key) || this.ahead.has(key)) return;
    this.keys.splice(lowerBound(this.keys, key), 0, key);
  }

  /** The newest entry known for `key`, watched or ahead (undefined: none). */
  newest(key) {
    const w = this.watched.get(key);
    const a = this.ahead.get(key);
    return w && a ? (a.revision > w.revision ? a : w) : (w ?? a);
  }

  /** An entry learnt ahead of the watch (a call's ack or fresh read): kept when
   * newer than anything known. It does not move `delivered`. */
  learn(key, entry) {
    const known = this.newest(key);
    if (known && known.revision >= entry.revision) return;
    this.index(key);
    this.ahead.set(key, entry);
  }

  /** The key's watched entry before `revision`: what subscribers were told of. */
  previous(key, revision) {
    const w = this.watched.get(key);
    return w && w.revision < revision ? w : undefined;
  }

  /** The watch delivered `entry`: it replaces an older one, and anything learnt
   * ahead that it has caught up with is dropped. */
  apply(key, entry) {
    if (entry.revision > this.delivered) this.delivered = entry.revision;
    this.index(key);
    const own = this.ahead.get(key);
    if (own && own.revision <= entry.revision) this.ahead.delete(key);
    const current = this.watched.get(key);
    if (!current || current.revision <= entry.revision) this.watched.set(key, entry);
  }

  /** `[{ key, entry }]`: the newest entry of every key that starts with
   * `prefix` and holds a value (markers left out), in key order. */
  scan(prefix) {
    const found = [];
    for (let i = lowerBound(this.keys, prefix); i < this.keys.length; i++) {
      const key = this.keys[i];
      if (!key.startsWith(prefix)) break;
      const entry = this.newest(key);
      if (entry?.operation === 'put') found.push({ key, entry });
    }
    return found;
  }

  /** Every watched `[key, entry]` (markers too). */
  snapshot() {
    return [...this.watched];
  }

  /** Drop entries older at `now` (ns) than `keepHold` (values) or `keepMarker`
   * (markers) ns, as the upkeep plan says: the replica never outgrows the bucket. */
  prune(now, { keepHold, keepMarker }) {
    const young = (e) => !e.created || now - e.created <= (e.operation === 'put' ? keepHold : keepMarker);
    for (const map of [this.watched, this.ahead]) {
      for (const [key, e] of map) if (!young(e)) map.delete(key);
    }
    this.keys = this.keys.filter((key) => this.watched.has(key) || this.ahead.has(key));
  }

  /** Keys held, watched and ahead. */
  get size() {
    return this.watched.size + this.ahead.size;
  }
}
