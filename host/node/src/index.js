// holds: file-level holds (leases) for fleets of coding agents.
//
// Every decision is made by the holds:core WebAssembly component shipped in
// this package (transpiled by jco); this package implements its store on NATS
// JetStream or in memory and offers an async API:
//
//   const m = await Manager.jetstream({ servers: '127.0.0.1:4222' });
//   const claim = await m.announce('/repo/src/lib.rs', 'agent-1', '30s');
export { FrozenClock, OffsetClock, SystemClock, wallNanos } from './clock.js';
export { toNanos } from './duration.js';
export {
  CasExhausted,
  Closed,
  ConfigError,
  CorruptEntry,
  GuestError,
  HeldByAnother,
  HeldByOthers,
  HoldsError,
  InvalidInput,
  Lagged,
  Lost,
  StoreError,
} from './errors.js';
export { Manager } from './manager.js';
export { NotStored, Unavailable, Unsupported, WrongRevision } from './stores/errors.js';
export { JetStreamStore } from './stores/jetstream.js';
export { MemoryStore } from './stores/memory.js';
export { Subscription } from './subscription.js';
