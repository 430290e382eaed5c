// What a store throws from its kv operations (the component's `kv-error`).

/** The key's latest revision was not the expected one; nothing changed. */
export class WrongRevision extends Error {
  constructor(key) {
    super(`wrong revision for ${key}`);
  }
}

/**
 * The store took nothing of a write, so sending it again is safe; whether and
 * when to is the component's call. `why`: 'busy' (another write to the key was
 * in flight), 'leader-changing' or 'no-stream'; `detail`: the store's answer.
 */
export class NotStored extends Error {
  constructor(why, detail) {
    super(`not stored (${why}): ${detail}`);
    this.why = why;
    this.detail = detail;
  }
}

/** The store could not answer. */
export class Unavailable extends Error {}

/** The store cannot do this (an atomic batch); nothing changed. */
export class Unsupported extends Error {}

/** A watch yields [key, entry] pairs and, exactly once, CAUGHT_UP. */
export const CAUGHT_UP = Symbol('caught-up');
