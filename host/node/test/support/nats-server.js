// A private nats-server for tests: a free 127.0.0.1 port, a temporary store
// directory, JetStream on, killed afterwards. NatsCluster: three (or n) of
// them routed into one JetStream cluster.
//
// The binary: $NATS_SERVER_BIN, else <repo>/.tools/bin/nats-server (the
// repository this package lives in; scripts/install-nats-server puts it there),
// else nats-server on PATH. Not finding one is a test failure, never a skip.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export function findNatsServer() {
  const given = process.env.NATS_SERVER_BIN;
  if (given) {
    if (!executable(given)) throw new Error(`NATS_SERVER_BIN=${given} is not an executable file`);
    return given;
  }
  const tools = join(REPO, '.tools', 'bin', 'nats-server');
  if (executable(tools)) return tools;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  throw new Error(
    `nats-server (>= 2.11) was not found: set NATS_SERVER_BIN to its path, or run ${REPO}/scripts/install-nats-server ` +
      `(installs 2.15.1 into ${REPO}/.tools/bin), or put nats-server on PATH`,
  );
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

/**
 * n distinct free ports (each held until all are picked: one at a time, the
 * kernel can hand out the same port twice).
 */
export async function freePorts(n) {
  const held = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      held.push(s);
      await new Promise((resolveListen, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolveListen);
      });
    }
    return held.map((s) => s.address().port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

/** A node could not bind a port (taken after it was picked). */
class PortTaken extends Error {}

export class NatsServer {
  static async start() {
    const server = new NatsServer(findNatsServer(), await freePort(), await freePort());
    await server.start();
    return server;
  }

  constructor(binary, port, monitorPort) {
    this.binary = binary;
    this.port = port;
    this.monitorPort = monitorPort;
    this.dir = mkdtempSync(join(tmpdir(), 'holds-nats-'));
    this.url = `nats://127.0.0.1:${port}`;
  }

  async start(timeoutMs = 10_000) {
    const args = ['-js', '-sd', join(this.dir, 'store'), '-a', '127.0.0.1', '-p', String(this.port)];
    this.process = spawn(this.binary, [...args, '-m', String(this.monitorPort)], { stdio: 'ignore' });
    const exited = new Promise((_, reject) =>
      this.process.once('exit', (code) => reject(new Error(`nats-server exited with ${code}`))),
    );
    exited.catch(() => {});
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const r = await Promise.race([
          fetch(`http://127.0.0.1:${this.monitorPort}/healthz?js-enabled-only=true`),
          exited,
        ]);
        if (r.ok) return;
      } catch (e) {
        if (this.process.exitCode !== null) throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server on port ${this.port} was not healthy within ${timeoutMs} ms`);
  }

  async stop() {
    if (this.process && this.process.exitCode === null) {
      const gone = new Promise((r) => this.process.once('exit', r));
      this.process.kill('SIGKILL');
      await gone;
    }
    this.process = undefined;
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * n nats-servers on 127.0.0.1 (servers n0, n1, ...), each with its own client,
 * monitor and cluster ports and temporary store directory, routes to all the
 * others, JetStream on, cluster name holds-test-<random> (a route to another
 * test's server, on a port taken after it was picked, is refused). Ready once
 * every node is healthy (which, clustered, includes knowing the JetStream meta
 * leader), has routes to all the others, and names the meta leader in its /jsz.
 */
export class NatsCluster {
  /** Starts with new ports after a node found one taken. */
  static ATTEMPTS = 3;

  static async start(n = 3) {
    const cluster = new NatsCluster(findNatsServer(), n);
    try {
      for (let attempt = 1; ; attempt++) {
        await cluster.pickPorts();
        try {
          await cluster.start();
          return cluster;
        } catch (e) {
          if (!(e instanceof PortTaken)) throw e;
          await cluster.stop();
          if (attempt === NatsCluster.ATTEMPTS) {
            throw new Error(`a port stayed taken after ${attempt} attempts: ${e.message}`);
          }
          for (let i = 0; i < n; i++) rmSync(cluster.nodeDir(i), { recursive: true, force: true });
        }
      }
    } catch (e) {
      await cluster.dispose();
      throw e;
    }
  }

  constructor(binary, n) {
    this.binary = binary;
    this.n = n;
    this.name = `holds-test-${randomBytes(4).toString('hex')}`;
    this.dir = mkdtempSync(join(tmpdir(), 'holds-nats-cluster-'));
    this.processes = [];
  }

  async pickPorts() {
    const ports = await freePorts(3 * this.n);
    this.ports = ports.slice(0, this.n);
    this.monitorPorts = ports.slice(this.n, 2 * this.n);
    this.clusterPorts = ports.slice(2 * this.n);
    this.urls = this.ports.map((port) => `nats://127.0.0.1:${port}`);
  }

  nodeDir(i) {
    return join(this.dir, `n${i}`);
  }

  log(i) {
    try {
      return readFileSync(join(this.nodeDir(i), 'nats.log'), 'utf8');
    } catch {
      return '';
    }
  }

  config(i) {
    const routes = this.clusterPorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
    return [
      `server_name: n${i}`,
      `listen: 127.0.0.1:${this.ports[i]}`,
      `http: 127.0.0.1:${this.monitorPorts[i]}`,
      `jetstream { store_dir: ${JSON.stringify(join(this.nodeDir(i), 'store'))} }`,
      `cluster {`,
      `  name: ${this.name}`,
      `  listen: 127.0.0.1:${this.clusterPorts[i]}`,
      `  routes: [${routes.join(', ')}]`,
      `}`,
      '',
    ].join('\n');
  }

  async monitor(i, path) {
    const r = await fetch(`http://127.0.0.1:${this.monitorPorts[i]}${path}`, { signal: AbortSignal.timeout(1000) });
    const text = await r.text();
    try {
      return [r.status, JSON.parse(text)];
    } catch {
      return [r.status, { error: text }];
    }
  }

  /** Why node i is not ready yet, or null. */
  async notReady(i) {
    const p = this.processes[i];
    if (p.exitCode !== null || p.signalCode !== null) {
      if (this.log(i).includes('address already in use')) throw new PortTaken(`n${i}: ${this.log(i)}`);
      throw new Error(`nats-server n${i} exited with ${p.exitCode ?? p.signalCode}:\n${this.log(i)}`);
    }
    try {
      const [status, health] = await this.monitor(i, '/healthz');
      if (status !== 200) return `n${i}: /healthz ${status} ${JSON.stringify(health)}`;
      const [, routez] = await this.monitor(i, '/routez');
      const peers = [...new Set((routez.routes ?? []).map((r) => r.remote_name))].sort();
      const want = this.ports.map((_, j) => `n${j}`).filter((_, j) => j !== i);
      if (peers.join() !== want.join()) return `n${i} has routes to [${peers}], not [${want}]`;
      const [, jsz] = await this.monitor(i, '/jsz');
      if (!jsz.meta_cluster?.leader) return `n${i} knows no JetStream meta leader`;
      return null;
    } catch (e) {
      return `n${i}: monitor port ${this.monitorPorts[i]}: ${e.message}`;
    }
  }

  async start(timeoutMs = 20_000) {
    for (let i = 0; i < this.ports.length; i++) {
      mkdirSync(this.nodeDir(i));
      const config = join(this.nodeDir(i), 'nats.conf');
      writeFileSync(config, this.config(i));
      const log = openSync(join(this.nodeDir(i), 'nats.log'), 'a');
      try {
        this.processes.push(spawn(this.binary, ['-c', config], { stdio: ['ignore', log, log] }));
      } finally {
        closeSync(log);
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const waiting = (await Promise.all(this.processes.map((_, i) => this.notReady(i)))).filter(Boolean);
      if (waiting.length === 0) return;
      if (Date.now() >= deadline) {
        const logs = this.processes.map((_, i) => `--- log of n${i} ---\n${this.log(i)}`).join('\n');
        throw new Error(`the nats cluster was not ready within ${timeoutMs} ms: ${waiting.join('; ')}\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop() {
    await Promise.all(
      this.processes.map((p) => {
        if (p.exitCode !== null || p.signalCode !== null) return undefined;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        return gone;
      }),
    );
    this.processes = [];
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
