// Compiled (never run) by `npm run typecheck`: the public API's types hold together.
import {
  HeldByAnother,
  Manager,
  MemoryStore,
  type Claim,
  type Event,
  type FileCheck,
  type KeyedEntry,
  type Mode,
  type Release,
  type Scope,
} from 'holds';

async function main(): Promise<void> {
  const m: Manager = await Manager.jetstream({ servers: '127.0.0.1:4222', bucket: 'holds', ttlMax: '5m' });
  const claim: Claim = await m.announce('/repo/a.rs', 'agent-1', '30s', { checkout: '/co' });
  const revision: bigint = claim.revision;
  const holder: string = claim.hold.agentId;
  try {
    await m.announce('/repo/a.rs', 'agent-2', 30_000n);
  } catch (e) {
    if (e instanceof HeldByAnother) console.log(e.holder, e.claim.revision);
  }
  const mode: Mode = 'shared';
  const docs: Claim = await m.announce('/repo/docs/', 'agent-1', '30s', { mode });
  const covering: Claim[] = await m.holders('/repo/docs/a.md');
  const [check]: FileCheck[] = await m.check(['/repo/docs/a.md'], 'agent-1');
  if (check?.state === 'shared') console.log(docs.hold.mode, covering.length);
  const scope: Scope = docs.scope;
  if (scope === 'directory') console.log(docs.file.endsWith('/'));
  const r: Release = await m.release('/repo/a.rs', 'agent-1');
  if (r.released) console.log(r.revision + 1n);
  const sub = await m.subscribe();
  for await (const event of sub) {
    const e: Event = event;
    if (e.kind === 'announced') console.log(e.hold?.agentId, e.scope satisfies Scope);
  }
  const shared = new MemoryStore({ maxAge: 300_000_000_000n });
  const scanned: KeyedEntry[] = shared.scan('_hx.', 0n);
  console.log(scanned.map(({ key, entry }) => `${key}@${entry.revision}`));
  const other = await Manager.open(shared, { ttlMax: '5m' });
  console.log(revision, holder, (await other.whoHas('/x'))?.file);
  await m.close();
}
void main;
