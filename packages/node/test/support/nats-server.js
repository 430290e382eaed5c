// A private nats-server for tests: a free 127.0.0.1 port, a temporary store
// directory, JetStream on, killed afterwards.
//
// The binary: $NATS_SERVER_BIN, else <repo>/.tools/bin/nats-server (the
// repository this package lives in; scripts/install-nats-server puts it there),
// else nats-server on PATH. Not finding one is a test failure, never a skip.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
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
