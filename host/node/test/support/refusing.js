// A store that answers scripted writes not-stored (as a busy or leaderless
// JetStream stream does), storing nothing, and counts the writes it is sent:
// the conformance cases' `refuse_writes` and `writes_sent`. It wraps the store
// where the store lives, on the main thread; the component's imports reach it
// from the workers through the bridge.
import { NotStored } from '../../src/stores/errors.js';

/** Wraps a store; without a script it changes nothing. */
export class RefusingStore {
  constructor(inner) {
    this.inner = inner;
    this.answers = [];
    this.sent = 0;
  }

  /** Answer the next writes not-stored for these reasons, one each; the count of writes sent starts again. */
  refuse(answers) {
    this.answers = [...answers];
    this.sent = 0;
  }

  /** Count a write; throw its scripted refusal, if any. */
  send() {
    this.sent += 1;
    const why = this.answers.shift();
    if (why !== undefined) throw new NotStored(why, `scripted ${why}`);
  }

  writeIfRevision(key, value, expected, ttlSeconds) {
    this.send();
    return this.inner.writeIfRevision(key, value, expected, ttlSeconds);
  }

  deleteIfRevision(key, expected, why, note) {
    this.send();
    return this.inner.deleteIfRevision(key, expected, why, note);
  }

  writeBatch(writes) {
    this.send();
    return this.inner.writeBatch(writes);
  }

  // -- everything else as the store does it --

  get expiresEntries() {
    return this.inner.expiresEntries;
  }

  get maxAge() {
    return this.inner.maxAge;
  }

  get bucket() {
    return this.inner.bucket;
  }

  get limits() {
    return this.inner.limits;
  }

  describe() {
    return `${this.inner.describe()}, its writes scripted`;
  }

  get(key) {
    return this.inner.get(key);
  }

  getMany(keys) {
    return this.inner.getMany(keys);
  }

  scan(prefix, through) {
    return this.inner.scan(prefix, through);
  }

  watch(options) {
    return this.inner.watch(options);
  }

  close() {
    return this.inner.close();
  }
}
