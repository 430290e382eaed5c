// The errors holds throws. Every one is a HoldsError.

export class HoldsError extends Error {
  get name() {
    return this.constructor.name;
  }
}

/** Another agent holds a live hold on the file; `claim` is the holder's. */
export class HeldByAnother extends HoldsError {
  constructor(claim) {
    super(`${claim.file} is held by agent ${JSON.stringify(claim.hold.agentId)} (revision ${claim.revision})`);
    this.claim = claim;
  }

  get holder() {
    return this.claim.hold.agentId;
  }
}

/** A claim over several files or patterns, an announce of a pattern, or a
 * shared hold was refused: `claims` are every live hold of another agent that
 * conflicts with it. Nothing stays written. */
export class HeldByOthers extends HoldsError {
  constructor(claims) {
    const named = claims.map((c) => `${c.file} by ${JSON.stringify(c.hold.agentId)}`).join(', ');
    super(`${claims.length} of the files are held: ${named}`);
    this.claims = claims;
  }

  get holders() {
    return this.claims.map((c) => c.hold.agentId);
  }
}

/** A renewal found the hold gone (released, force-released, expired or taken
 * over since `revision`); `holder` is who holds the file now, if anyone. */
export class Lost extends HoldsError {
  constructor(file, revision, holder) {
    super(
      `the hold on ${file} at revision ${revision} is lost (now ${holder ? `held by ${JSON.stringify(holder.hold.agentId)}` : 'vacant'})`,
    );
    this.file = file;
    this.revision = revision;
    this.holder = holder;
  }
}

/** A precondition the caller broke (`field` names it); nothing was written. */
export class InvalidInput extends HoldsError {
  constructor(field, reason) {
    super(`invalid ${field}: ${reason}`);
    this.field = field;
    this.reason = reason;
  }
}

/** Every attempt lost the revision race. */
export class CasExhausted extends HoldsError {
  constructor(attempts) {
    super(`gave up after ${attempts} attempts lost the revision race`);
    this.attempts = attempts;
  }
}

/** A stored value that does not decode as a hold. */
export class CorruptEntry extends HoldsError {
  constructor(key, revision, reason) {
    super(`corrupt entry ${key} at revision ${revision}: ${reason}`);
    this.key = key;
    this.revision = revision;
    this.reason = reason;
  }
}

/** The store failed (unreachable, timed out, refused). A failed write may still
 * land later: announce or release again to settle it. */
export class StoreError extends HoldsError {}

/** The manager was closed. */
export class Closed extends HoldsError {
  constructor(message = 'the manager is closed') {
    super(message);
  }
}

/** The manager cannot work on this bucket with this configuration. */
export class ConfigError extends HoldsError {}

/** The component trapped; its instance was discarded and the next call gets a fresh one. */
export class GuestError extends HoldsError {}

/** A subscriber fell more than its buffer behind; its subscription ended. */
export class Lagged extends HoldsError {
  constructor(buffer) {
    super(`the subscriber fell more than ${buffer} events behind`);
    this.buffer = buffer;
  }
}
