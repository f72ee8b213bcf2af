/**
 * The access log's modes and destinations: sampled in the engine, written to stdout (epoxy's
 * logger) or a file, switched by reload, flushed on stop. Real HTTP through a running proxy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Proxy, type EpoxyConfig } from '../src/index.js';
import type { AccessLogConfig } from '../src/config/types.js';
import type { AccessRecord } from '../src/log/access.js';
import { freePort, pool, sleep } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';

type LogLine = Record<string, unknown> & { msg?: string; access?: AccessRecord };

/** A pino logger whose lines are kept, parsed, in `lines`. */
function collectingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

/** Access records of a file destination, in order; none if the file does not exist. */
function fileRecords(file: string): AccessRecord[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return lines.map((l) => JSON.parse(l) as LogLine).filter((l) => l.msg === 'access').map((l) => l.access!);
}

const accessOf = (lines: LogLine[]): AccessRecord[] => lines.filter((l) => l.msg === 'access').map((l) => l.access!);

/** Resolves once `read()` holds a record for `path`; fails after a few seconds. */
async function waitForRecord(read: () => AccessRecord[], path: string): Promise<AccessRecord> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = read().find((r) => r.path === path);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no access record for ${path}`);
    await sleep(20);
  }
}

let backend: HttpBackend;
let dir: string;
let running: Proxy | undefined;

beforeAll(async () => {
  backend = await httpBackend('app');
  dir = mkdtempSync(join(tmpdir(), 'epoxy-access-'));
});

afterEach(async () => {
  await running?.stop({ graceMs: 100 });
  running = undefined;
});

afterAll(async () => {
  await backend.close();
});

function config(port: number, accessLog: boolean | AccessLogConfig): EpoxyConfig {
  return {
    listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'app' }] }],
    pools: { app: { servers: [backend.address] } },
    accessLog,
  };
}

async function start(accessLog: boolean | AccessLogConfig): Promise<{ proxy: Proxy; port: number; lines: LogLine[] }> {
  const port = await freePort();
  const { logger, lines } = collectingLogger();
  const proxy = await Proxy.start(config(port, accessLog), { logger });
  running = proxy;
  return { proxy, port, lines };
}

/** `count` GET requests on keep-alive connections, 20 at a time; each must answer 200. */
async function requests(port: number, count: number, prefix: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  try {
    const paths = Array.from({ length: count }, (_, i) => `/${prefix}/${i}`);
    await pool(paths, 20, async (path) => {
      const r = await request(port, { path, agent });
      if (r.status !== 200) throw new Error(`${path}: status ${r.status}`);
    });
  } finally {
    agent.destroy();
  }
}

describe('access log', () => {
  it('writes every request to a file, flushed and closed by stop(), and nothing to the main log', async () => {
    const file = join(dir, 'full.log');
    const { proxy, port, lines } = await start({ mode: 'full', destination: file });
    await requests(port, 300, 'full');
    await proxy.stop();
    const records = fileRecords(file);
    expect(records).toHaveLength(300);
    expect(new Set(records.map((r) => r.path)).size).toBe(300);
    expect(records[0]).toMatchObject({ listener: 'web', pool: 'app', server: backend.address, method: 'GET', status: 200, termination: '--' });
    for (const key of ['client', 'bytesIn', 'bytesOut', 'tQueue', 'tConnect', 'tResponse', 'tTotal']) expect(records[0]).toHaveProperty(key);
    expect(records[0]!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(accessOf(lines)).toHaveLength(0);
    expect(lines.find((l) => l.msg?.startsWith('access log: every request to'))).toMatchObject({ accessLog: { destination: file } });
  });

  it('logs about sampleRate of the requests in sampled mode (2,000 at 0.1)', async () => {
    const file = join(dir, 'sampled.log');
    const { proxy, port, lines } = await start({ mode: 'sampled', sampleRate: 0.1, destination: file });
    expect(lines.map((l) => l.msg)).toContain(`access log: 10% of requests (sampled) to ${file}`);
    await requests(port, 2000, 'sampled');
    const stats = await proxy.stats();
    await proxy.stop();
    // Binomial(2000, 0.1): mean 200, standard deviation 13.4; 130–270 is ±5 of them.
    const logged = fileRecords(file).length;
    expect(logged).toBeGreaterThanOrEqual(130);
    expect(logged).toBeLessThanOrEqual(270);
    expect(stats.totals.logsDropped).toBe(0);
  });

  it('goes to the main logger with destination stdout, and logs nothing when off', async () => {
    const on = await start(true);
    await request(on.port, { path: '/on' });
    expect(await waitForRecord(() => accessOf(on.lines), '/on')).toMatchObject({ status: 200 });
    await on.proxy.stop();

    const off = await start({ mode: 'off' });
    await requests(off.port, 20, 'off');
    expect((await off.proxy.stats()).totals.logsDropped).toBe(0);
    await off.proxy.stop();
    expect(accessOf(off.lines)).toHaveLength(0);
  });

  it('follows reloads: stdout, a file, another file, off; and a reload opens the file anew after rotation', async () => {
    const first = join(dir, 'reload-a.log');
    const second = join(dir, 'reload-b.log');
    const { proxy, port, lines } = await start(true);
    const stdout = () => accessOf(lines);

    await request(port, { path: '/p1' });
    await waitForRecord(stdout, '/p1');

    await proxy.reload(config(port, { destination: first }));
    await request(port, { path: '/p2' });
    await waitForRecord(() => fileRecords(first), '/p2');
    expect(lines.find((l) => l.msg === `access log now: every request to ${first}`)).toBeDefined();

    // logrotate moves the file away; the reload that follows (SIGHUP) starts a new one.
    renameSync(first, `${first}.1`);
    await proxy.reload(config(port, { destination: first }));
    await request(port, { path: '/p3' });
    await waitForRecord(() => fileRecords(first), '/p3');

    await proxy.reload(config(port, { destination: second, mode: 'sampled', sampleRate: 1 }));
    await request(port, { path: '/p4' });
    await waitForRecord(() => fileRecords(second), '/p4');

    await proxy.reload(config(port, { destination: second, mode: 'off' }));
    await request(port, { path: '/p5' });
    await proxy.stop();

    const where = (path: string) =>
      [
        ['stdout', stdout()],
        ['first.1', fileRecords(`${first}.1`)],
        ['first', fileRecords(first)],
        ['second', fileRecords(second)],
      ]
        .filter(([, records]) => (records as AccessRecord[]).some((r) => r.path === path))
        .map(([name]) => name);
    expect(['/p1', '/p2', '/p3', '/p4', '/p5'].map(where)).toEqual([['stdout'], ['first.1'], ['first'], ['second'], []]);
  });
});

/** Blocks this thread (timers, sockets, everything) until `file` exists; false after `ms`. */
function blockUntilExists(file: string, ms: number): boolean {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + ms;
  while (!existsSync(file)) {
    if (Date.now() > deadline) return false;
    Atomics.wait(cell, 0, 0, 20);
  }
  return true;
}

const loadScript = new URL('./fixtures/pipelined-load.mjs', import.meta.url).pathname;

describe('access log when JS falls behind', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('the engine keeps serving, drops what does not fit, counts the drops and warns on the main log', async () => {
    // 130 connections of 1,000 pipelined requests: more access lines than the engine queues
    // for JS (100,000), all served while this thread is blocked.
    const [connections, perConnection] = [130, 1000];
    const total = connections * perConnection;
    // Seconds of both CPUs: at the lowest priority (inherited by the engine thread and the load
    // process), so the test files running alongside are not starved. Each file has its own process.
    setPriority(19);
    const goFile = join(dir, 'go');
    const child = spawn(process.execPath, [loadScript, goFile, String(connections), String(perConnection)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    children.push(child);
    const [first] = (await once(child.stdout!, 'data')) as [Buffer];
    const backendPort = Number(/^backend (\d+)/.exec(first.toString())?.[1]);
    const file = join(dir, 'behind.log');
    const port = await freePort();
    const { logger, lines } = collectingLogger();
    const proxy = await Proxy.start(
      {
        listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'load' }] }],
        pools: { load: { servers: [`127.0.0.1:${backendPort}`] } },
        accessLog: { destination: file },
      },
      { logger },
    );
    running = proxy;

    writeFileSync(goFile, String(port));
    expect(blockUntilExists(`${goFile}.done`, 60_000)).toBe(true);
    expect(Number(readFileSync(`${goFile}.done`, 'utf8'))).toBe(total);

    // The engine reports drops with the first batch after JS has caught up.
    await request(port, { path: '/after' });
    const deadline = Date.now() + 10_000;
    let warning: LogLine | undefined;
    while (!(warning = lines.find((l) => l.msg === 'log lines dropped: JS fell behind')) && Date.now() < deadline) await sleep(20);
    expect(warning, JSON.stringify(lines.slice(-5))).toMatchObject({ level: 40 });
    const { logsDropped } = (await proxy.stats()).totals;
    expect(logsDropped).toBeGreaterThan(0);
    expect(warning!['droppedSoFar']).toBe(logsDropped);
    await proxy.stop();
    // Every request has a line in the file or is counted as dropped, by the engine or (a disk
    // that cannot keep up) by the file's writer; never both.
    const fileDrops = lines.filter((l) => l.msg === 'access log lines dropped: the file cannot keep up').at(-1);
    expect(fileRecords(file).length + logsDropped + Number(fileDrops?.['droppedSoFar'] ?? 0)).toBe(total + 1);
    await exited;
  }, 90_000);
});
