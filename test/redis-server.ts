/**
 * A private redis-server for tests: a child of the test process on a free 127.0.0.1 port, with
 * no persistence (`--save '' --appendonly no`) and its working dir in a temp dir, started in the
 * foreground and stopped by PID. Optional keyspace notifications and a password.
 *
 * restart() kills it and starts a fresh one on the same port (the data is gone, as with a real
 * crash without persistence); pause()/resume() SIGSTOP/SIGCONT it (a hung server that keeps its
 * data and its connections). subscribeChannel() collects what writers publish. The tool is installed when missing through scripts/ensure-tools.sh.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

import { freePort } from './helpers.js';
import { peerEnv } from './peers/tools.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RedisServerOptions {
  /** e.g. 'KEA' (the server then sends keyspace notifications); default: none. */
  notifyKeyspaceEvents?: string;
  /** --requirepass: clients must AUTH. */
  password?: string;
  /** A port chosen by the test (e.g. one a client already tries to reach); default: a free one. */
  port?: number;
  /** TLS only (`--port 0 --tls-port`): the server's certificate and key; clients need not present one. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export interface RedisServer {
  readonly port: number;
  /** redis://[:password@]127.0.0.1:port/0 */
  readonly url: string;
  readonly pid: number;
  /** Everything the server printed (the last 64 KiB). */
  output(): string;
  stop(): Promise<void>;
  /** Kills it (SIGKILL): down until restart(), its port and dir kept. */
  crash(): Promise<void>;
  /** Kills it (if running) and starts a fresh server (no data) on the same port with the same options. */
  restart(): Promise<void>;
  pause(): void;
  resume(): void;
}

let ensured = false;

/** Installs redis-server (Debian package) when it is missing. */
export function ensureRedisServer(): void {
  if (ensured) return;
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'ensure-tools.sh'), 'redis-server=redis-server'], { stdio: ['ignore', 'ignore', 'inherit'], env: peerEnv() });
  ensured = true;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  ensureRedisServer();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'epoxy-redis-'));
  let child = await launch(port, dir, options);
  let out = '';
  const capture = (c: ChildProcess) => {
    const add = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-65536);
    };
    c.stdout?.on('data', add);
    c.stderr?.on('data', add);
  };
  capture(child);
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    // TLS: the name the test certificate is for (makeCerts(['localhost'])).
    url: options.tls ? `rediss://${auth}localhost:${port}/0` : `redis://${auth}127.0.0.1:${port}/0`,
    get pid() {
      return child.pid ?? -1;
    },
    output: () => out,
    async stop() {
      await kill(child);
      rmSync(dir, { recursive: true, force: true });
    },
    async crash() {
      await kill(child);
    },
    async restart() {
      await kill(child);
      child = await launch(port, dir, options);
      capture(child);
    },
    pause() {
      if (child.pid) process.kill(child.pid, 'SIGSTOP');
    },
    resume() {
      if (child.pid) process.kill(child.pid, 'SIGCONT');
    },
  };
}

async function launch(port: number, dir: string, options: RedisServerOptions): Promise<ChildProcess> {
  const listen = options.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile,
       '--tls-ca-cert-file', options.tls.caFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
  if (options.notifyKeyspaceEvents !== undefined) args.push('--notify-keyspace-events', options.notifyKeyspaceEvents);
  if (options.password !== undefined) args.push('--requirepass', options.password);
  // Not under the sanitizer runs' LD_PRELOAD (test:asan, test:tsan): redis-server is a peer, not ours.
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], env: peerEnv() });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) before answering on port ${port}`);
    if (await answersPing(port, options.tls !== undefined)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer PING on port ${port} within 5 s`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** PING over a raw socket: +PONG, or -NOAUTH from a server with a password, both mean it is up. */
function answersPing(port: number, overTls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = overTls ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once(overTls ? 'secureConnect' : 'connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.once('data', (data) => done(/^[+-]/.test(data.toString())));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGKILL');
  await exited;
}

/** A client subscribed to one channel, keeping what writers PUBLISH there. */
export interface ChannelMessages {
  /** Received and not yet taken (clear it with `pending.length = 0`). */
  readonly pending: string[];
  /** Waits up to 1 s for n messages, then takes every pending one. */
  take(n: number): Promise<string[]>;
  close(): void;
}

export async function subscribeChannel(url: string, channel: string): Promise<ChannelMessages> {
  const sub = new Redis(url);
  const pending: string[] = [];
  await sub.subscribe(channel);
  sub.on('message', (_c: string, m: string) => pending.push(m));
  return {
    pending,
    async take(n) {
      const deadline = Date.now() + 1000;
      while (pending.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return pending.splice(0);
    },
    close: () => sub.disconnect(),
  };
}
