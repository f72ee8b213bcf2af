/** Real sockets on 127.0.0.1 for tests: backends, clients, ports, process probes. */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';

import { silentLogger } from '../src/log/logger.js';

export const logger = silentLogger();

// Ports handed out by this process: a test asking for two ports needs two.
const handedOut = new Set<number>();

/**
 * The ports this test worker hands out: a slice of 20000–32767, below the kernel's ephemeral
 * range (net.ipv4.ip_local_port_range, 32768–60999 by default). A port taken from the ephemeral
 * range and closed again was not reserved: until the proxy under test bound it, any connect() or
 * bind(0) in another test file could take it (EADDRINUSE, or a "refused" probe that connected).
 * The kernel never picks a port from below that range, and each vitest worker (VITEST_POOL_ID)
 * has its own slice, so only this worker can hand a port out again.
 */
export function portSlice(): { first: number; last: number } {
  const floor = 20000;
  const ceiling = ephemeralFloor() - 1;
  const workers = 8;
  const size = Math.floor((ceiling - floor + 1) / workers);
  const id = (Number(process.env.VITEST_POOL_ID ?? '1') - 1) % workers;
  const first = floor + Math.max(0, id) * size;
  return { first, last: first + size - 1 };
}

function ephemeralFloor(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    if (Number.isInteger(n) && n > 21000) return n;
  } catch {
    // Not Linux's procfs: keep the default range's floor.
  }
  return 32768;
}

let nextInSlice = -1;

/** A port in this worker's slice that is free now (bound and closed again), never one returned before in this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { first, last } = portSlice();
  const size = last - first + 1;
  if (nextInSlice < 0) nextInSlice = Math.floor(Math.random() * size);
  for (let tried = 0; tried < size; tried++) {
    const port = first + (nextInSlice++ % size);
    if (handedOut.has(port)) continue;
    if (!(await canBind(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`freePort: no free port left in ${first}-${last}`);
}

async function canBind(port: number, host: string): Promise<boolean> {
  const srv = net.createServer();
  const bound = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => srv.close(() => resolve()));
  return bound;
}

export interface Backend {
  server: net.Server;
  port: number;
  address: string;
  connections: Set<net.Socket>;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 running `handler` for each connection; close() destroys every socket. */
export async function startBackend(handler: (socket: net.Socket) => void, options: net.ServerOpts = {}): Promise<Backend> {
  const connections = new Set<net.Socket>();
  const server = net.createServer(options, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => {});
    handler(socket);
  });
  // A deep backlog like the proxy's own: with node's default (511) a burst of 1,000 connects can
  // overflow the accept queue, and the kernel then resets a connection the proxy already uses.
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    connections,
    async close() {
      for (const s of connections) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const echoBackend = () => startBackend((s) => s.pipe(s));

/** Answers each connection with `name\n`, then echoes. */
export const namedBackend = (name: string) =>
  startBackend((s) => {
    s.write(`${name}\n`);
    s.pipe(s);
  });

export async function connect(port: number, options: Partial<net.TcpNetConnectOpts> = {}): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', ...options });
  await once(socket, 'connect');
  return socket;
}

/** Reads until the peer ends or closes; resolves with everything received and how it ended. */
export function readAll(socket: net.Socket): Promise<{ data: Buffer; error?: Error }> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => {
    let error: Error | undefined;
    socket.on('error', (e) => (error = e));
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

/** Reads exactly `n` bytes (or fewer if the socket closes first). */
export function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) done();
    };
    const done = () => {
      socket.off('data', onData);
      socket.off('close', done);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData);
    socket.on('close', done);
  });
}

/** First line a named backend sends: its name. Leaves the socket open and readable. */
export function readLine(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      finish();
      const rest = buf.slice(nl + 1);
      if (rest) socket.unshift(Buffer.from(rest));
      resolve(buf.slice(0, nl));
    };
    const onClose = () => {
      finish();
      resolve(buf);
    };
    const finish = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/**
 * Writes `total` random bytes in chunks, honouring backpressure (so the writer itself holds
 * no more than one chunk), and returns their sha256.
 */
export async function writeRandom(socket: net.Socket, total: number, chunk = 256 * 1024): Promise<string> {
  const hash = createHash('sha256');
  let left = total;
  while (left > 0) {
    const piece = randomBytes(Math.min(chunk, left));
    hash.update(piece);
    left -= piece.length;
    if (!socket.write(piece)) await once(socket, 'drain');
  }
  return hash.digest('hex');
}

/**
 * Hashes everything a socket delivers until it ends. `pauses` lists byte offsets at which the
 * reader stops reading for `pauseMs` (a slow reader, so the proxy must hold back).
 */
export function hashIncoming(socket: net.Socket, pauses: number[] = [], pauseMs = 0): Promise<{ sha: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const todo = [...pauses];
  return new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      if (todo.length > 0 && bytes >= todo[0]!) {
        todo.shift();
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on('error', reject);
    socket.on('end', () => resolve({ sha: hash.digest('hex'), bytes }));
  });
}

export function openFdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function threadCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

/** Threads of a process whose name (/proc/PID/task/TID/comm) starts with `prefix`, e.g. 'epoxy-engine-'. */
export function namedThreadCount(prefix: string, pid: number | 'self' = 'self'): number {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith(prefix)) n++;
    } catch {
      // The thread ended between the two reads.
    }
  }
  return n;
}

/** utime+stime of a process in milliseconds (from /proc/PID/stat, clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) : 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

// ---- a proxy in its own process, so its memory and CPU can be measured alone ----

export interface ChildProxy {
  child: ChildProcess;
  pid: number;
  stats(): Promise<import('../src/stats.js').ProxyStats>;
  stop(): Promise<number | null>;
}

const childScript = new URL('./fixtures/proxy-child.mjs', import.meta.url).pathname;

/** Starts a proxy in a child node process from a JSON-able config (no hook functions). */
export async function startChildProxy(config: unknown): Promise<ChildProxy> {
  const child = fork(childScript, [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [msg] = (await once(child, 'message')) as [{ ready?: boolean; error?: string }];
  if (!msg.ready) throw new Error(`child proxy failed: ${msg.error}`);
  let seq = 0;
  return {
    child,
    pid: child.pid!,
    stats() {
      const id = ++seq;
      child.send({ cmd: 'stats', id });
      return new Promise((resolve) => {
        const onMsg = (m: { id?: number; stats?: import('../src/stats.js').ProxyStats }) => {
          if (m.id !== id) return;
          child.off('message', onMsg);
          resolve(m.stats!);
        };
        child.on('message', onMsg);
      });
    },
    async stop() {
      child.send({ cmd: 'stop' });
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

/** Runs a node script and resolves with its exit code, output and run time. */
export function runNode(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** True once a connection to `port` is refused (a listener that closed); false after `ms`. */
export async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const outcome = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.on('connect', () => {
        s.on('close', () => resolve('accepted'));
        s.destroy();
      });
    });
    if (outcome === 'ECONNREFUSED') return true;
  }
  return false;
}
