// A bucket's release log on JetStream, as the Rust host keeps it: every release
// marker this store writes is also published to the stream
// `HOLDS_RELEASES_<bucket>` (subject `$HOLDS.releases.<bucket>`) with the key,
// the marker's revision and the process that asked, so `holds log` can say who
// released a hold. The stream is made by the first release that finds it
// missing: opening a bucket to read changes nothing.
import { DiscardPolicy, StorageType } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { hostname, userInfo } from 'node:os';
import { basename } from 'node:path';

/** Releases the log keeps per bucket (the oldest go first). */
export const RELEASE_LOG_LEN = 100_000;

/** How this process appears in the log: its name, pid, user and host. */
export function thisProcess() {
  const name = process.argv[1] ? `node ${basename(process.argv[1])}` : 'node';
  let user;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.geteuid?.() ?? '?'}`;
  }
  return `${name} (pid ${process.pid}, user ${user}, host ${hostname()})`;
}

/** Record the release of `key` at `revision` (its marker's) with `note`. */
export async function record(js, jsm, bucket, replicas, key, revision, note) {
  const subject = `$HOLDS.releases.${bucket}`;
  const h = headers();
  h.set('Holds-Key', key);
  h.set('Holds-Revision', String(revision));
  h.set('Holds-Process', thisProcess());
  const payload = note?.length ? note : undefined;
  try {
    await js.publish(subject, payload, { headers: h });
    return;
  } catch (e) {
    if (e?.name !== 'JetStreamNotEnabled' && e?.code !== '503') throw e;
  }
  try {
    await jsm.streams.add({
      name: `HOLDS_RELEASES_${bucket}`,
      subjects: [subject],
      max_msgs: RELEASE_LOG_LEN,
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: replicas,
      description: `holds: releases in bucket ${bucket}`,
    });
  } catch {
    // Another process made it first: publishing again works either way.
  }
  await js.publish(subject, payload, { headers: h });
}
