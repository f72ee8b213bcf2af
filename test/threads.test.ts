/**
 * engine.threads: N engine threads in one process, over real sockets. Connections spread over
 * the threads; limits, the queue, balancers and passive health count over all of them; a
 * reload cannot change the thread count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import { describe, expect, it } from 'vitest';

import { ConfigError, Proxy, type EpoxyConfig, type PoolConfig } from '../src/index.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { connect, echoBackend, freePort, namedBackend, pool, readLine, sleep, type Backend } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';
import { startLoad } from './load.js';

const cleanups = cleanupsAfterEach();
const start = (config: EpoxyConfig): Promise<Proxy> => startProxy(config, cleanups);

/**
 * This process's engine threads by name (epoxy-engine-<i>), with their CPU time from /proc:
 * schedstat's nanoseconds on a CPU (stat's utime+stime come in 10 ms ticks, too coarse here).
 */
function engineThreads(): Array<{ tid: number; name: string; cpuMs: number }> {
  const out = [];
  for (const tid of readdirSync('/proc/self/task')) {
    let name: string;
    let schedstat: string;
    try {
      name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      schedstat = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8');
    } catch {
      continue;  // a thread that ended meanwhile
    }
    if (!name.startsWith('epoxy-engine-')) continue;
    out.push({ tid: Number(tid), name, cpuMs: Number(schedstat.split(' ')[0]) / 1e6 });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Waits until the proxy's only pool has queued `n` requests in all (stats sum the threads). */
async function queuedAtLeast(proxy: Proxy, n: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if ((await proxy.stats()).pools[0]!.queuedTotal >= n) return;
    await sleep(2);
  }
  throw new Error(`the proxy never queued ${n} requests`);
}

const maxShare = (values: number[]) => Math.max(...values) / values.reduce((a, b) => a + b, 0);

async function backends(names: string[]): Promise<Record<string, Backend>> {
  const out: Record<string, Backend> = {};
  for (const n of names) {
    out[n] = await namedBackend(n);
    cleanups.push(() => out[n]!.close());
  }
  return out;
}

/** A TCP proxy with `threads` engine threads in front of named backends; `once()` asks who answers. */
async function tcpProxy(threads: number, names: string[], pool: (b: Record<string, Backend>) => PoolConfig) {
  const b = await backends(names);
  const port = await freePort();
  const proxy = await start({
    listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
    pools: { p: pool(b) },
    engine: { threads },
  });
  const once = async () => {
    const c = await connect(port);
    const name = await readLine(c);
    c.destroy();
    return name;
  };
  return { proxy, port, once };
}

describe('engine threads', () => {
  it('names each thread epoxy-engine-<i> and pins it to engine.cpus', async () => {
    const { proxy } = await tcpProxy(3, ['A'], (b) => ({ servers: [b['A']!.address] }));
    const names = engineThreads().map((t) => t.name);
    expect(names).toEqual(['epoxy-engine-0', 'epoxy-engine-1', 'epoxy-engine-2']);
    expect((await proxy.stats()).threads.map((t) => t.id)).toEqual([0, 1, 2]);
    await proxy.stop({ graceMs: 0 });
    expect(engineThreads()).toEqual([]);

    const port = await freePort();
    await start({ listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }], pools: { p: { servers: ['127.0.0.1:1'] } }, engine: { threads: 2, cpus: [0] } });
    for (const t of engineThreads()) {
      expect(readFileSync(`/proc/self/task/${t.tid}/status`, 'utf8')).toMatch(/^Cpus_allowed_list:\s+0$/m);
    }
  });

  it('spreads 1,000 short connections and 100 long ones over 4 threads, none above 40 %', async () => {
    const { proxy, once } = await tcpProxy(4, ['A'], (b) => ({ servers: [b['A']!.address] }));
    const answers = await pool(Array.from({ length: 1000 }), 20, () => once());
    expect(answers.every((a) => a === 'A')).toBe(true);
    const accepted = (await proxy.stats()).threads.map((t) => t.accepted);
    expect(accepted.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(maxShare(accepted)).toBeLessThanOrEqual(0.4);
    await proxy.stop({ graceMs: 0 });

    // 100 keep-alive HTTP clients held open, then busy: sessions and CPU per thread.
    const web = await httpBackend('web');
    cleanups.push(() => web.close());
    const port = await freePort();
    const httpProxy = await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'w' }] }],
      pools: { w: { servers: [web.address] } },
      engine: { threads: 4 },
    });
    const agents = Array.from({ length: 100 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    cleanups.push(async () => agents.forEach((a) => a.destroy()));
    await Promise.all(agents.map((agent) => request(port, { agent })));
    const held = (await httpProxy.stats()).threads.map((t) => t.sessions);
    expect(held.reduce((a, b) => a + b, 0)).toBe(100);
    expect(maxShare(held)).toBeLessThanOrEqual(0.4);

    const before = engineThreads();
    expect(before).toHaveLength(4);
    const until = Date.now() + 1500;
    await Promise.all(agents.map(async (agent) => {
      while (Date.now() < until) expect((await request(port, { agent })).status).toBe(200);
    }));
    const after = engineThreads();
    const cpu = after.map((t, i) => t.cpuMs - before[i]!.cpuMs);
    expect(Math.min(...cpu)).toBeGreaterThan(0);
    expect(maxShare(cpu)).toBeLessThanOrEqual(0.4);
    const requests = (await httpProxy.stats()).threads.map((t) => t.requests);
    expect(maxShare(requests)).toBeLessThanOrEqual(0.4);
  });

  /**
   * A backend that holds each request `holdMs` and records the order requests reach it and
   * the most at once; a proxy with 4 threads in front, `maxconn` on its one server.
   */
  async function queueSetup(maxconn: number, holdMs: number) {
    const order: number[] = [];
    let active = 0;
    let peak = 0;
    const backend = await httpBackend('slow', (req, res) => {
      order.push(Number(req.headers['x-seq']));
      peak = Math.max(peak, ++active);
      setTimeout(() => {
        active--;
        res.end('ok\n');
      }, holdMs);
    });
    cleanups.push(() => backend.close());
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [{ address: backend.address, maxconn }], queue: { timeoutMs: 20_000 } } },
      engine: { threads: 4 },
    });
    // Request i is sent once request i-1 is in the proxy's queue (the first `maxconn` take the
    // free slots): arrival order is then the order sent, whichever thread accepted each and
    // however long it waited for a CPU on this 2-vCPU machine.
    const send = async (n: number) => {
      const replies: Array<Promise<number>> = [];
      for (let i = 0; i < n; i++) {
        replies.push(request(port, { headers: { 'x-seq': String(i) } }).then((r) => r.status));
        if (i >= maxconn) await queuedAtLeast(proxy, i - maxconn + 1);
        else await sleep(5);
      }
      return Promise.all(replies);
    };
    return { proxy, order, peak: () => peak, send };
  }

  it('maxconn 1 over 4 threads: 30 clients served one at a time, exactly in order of arrival', async () => {
    const { proxy, order, peak, send } = await queueSetup(1, 40);
    expect(await send(30)).toEqual(Array(30).fill(200));
    expect(peak()).toBe(1);
    // One in flight at a time: the backend sees each request only after the one before ended.
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const stats = await proxy.stats();
    expect(stats.threads.filter((t) => t.requests > 0).length).toBeGreaterThan(1);
    expect(stats.pools[0]!.queued).toBe(0);
    expect(stats.pools[0]!.queueTimeouts).toBe(0);
  });

  it('maxconn 2 over 4 threads: 40 clients, never more than 2 at once, slots in order of arrival', async () => {
    const { proxy, order, peak, send } = await queueSetup(2, 60);
    expect(await send(40)).toEqual(Array(40).fill(200));
    expect(peak()).toBe(2);
    // Slots go out oldest first. Two requests given slots at the same moment run on two threads
    // at once and may reach the backend either way round, so a request may pass at most the one
    // before it — never one further ahead.
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    order.forEach((seq, position) => expect(Math.abs(seq - position), `${order.join(',')}`).toBeLessThanOrEqual(1));
    const stats = await proxy.stats();
    expect(stats.threads.filter((t) => t.requests > 0).length).toBeGreaterThan(1);
    expect(stats.pools[0]!.queued).toBe(0);
    expect(stats.pools[0]!.queueTimeouts).toBe(0);
  });

  it('weighted round robin over 4 threads: one smooth 3:1 sequence for the process', async () => {
    const { proxy, once } = await tcpProxy(4, ['A', 'B'], (b) => ({ servers: [{ address: b['A']!.address, weight: 3 }, b['B']!.address] }));
    const seq: string[] = [];
    for (let i = 0; i < 200; i++) seq.push(await once());
    expect(seq.join('')).not.toContain('AAAA');
    seq.push(...(await pool(Array.from({ length: 200 }), 8, () => once())));
    expect(seq.filter((n) => n === 'A')).toHaveLength(300);
    expect(seq.filter((n) => n === 'B')).toHaveLength(100);
    expect((await proxy.stats()).threads.filter((t) => t.accepted > 0)).toHaveLength(4);
  });

  it('leastconn over 4 threads counts every thread’s sessions', async () => {
    const b = await backends(['A', 'B']);
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { balance: 'leastconn', servers: [b['A']!.address, b['B']!.address] } },
      engine: { threads: 4 },
    });
    const open = async () => {
      const socket = await connect(port);
      return { socket, name: await readLine(socket) };
    };
    const held = [];
    for (let i = 0; i < 40; i++) held.push(await open());
    // Whatever thread each landed on, the pool stays even.
    expect(held.filter((h) => h.name === 'A')).toHaveLength(20);
    for (const h of held.filter((h) => h.name === 'B').slice(0, 6)) h.socket.destroy();
    for (let i = 0; i < 100 && (await proxy.stats()).totals.active !== 34; i++) await sleep(10);
    const next = [];
    for (let i = 0; i < 6; i++) next.push(await open());
    expect(next.map((n) => n.name)).toEqual(Array(6).fill('B'));
    [...held, ...next].forEach((h) => h.socket.destroy());
  });

  it('an ejection decided on one thread stops new sessions on all', async () => {
    const b = await backends(['A']);
    const dead = `127.0.0.1:${await freePort()}`;
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { servers: [dead, b['A']!.address], passive: { errors: 2, windowMs: 60_000, ejectMs: 60_000 } } },
      engine: { threads: 4 },
    });
    const once = async () => {
      const c = await connect(port);
      const name = await readLine(c);
      c.destroy();
      return name;
    };
    // Connect failures are retried on A; some thread sees two of them and ejects the dead server.
    for (let i = 0; i < 200 && (await proxy.stats()).pools[0]!.servers[0]!.state !== 'ejected'; i++) await once();
    const failures = (await proxy.stats()).pools[0]!.servers[0]!;
    expect(failures.state).toBe('ejected');
    const answers = await pool(Array.from({ length: 200 }), 8, () => once());
    expect(answers.every((a) => a === 'A')).toBe(true);
    const after = (await proxy.stats()).pools[0]!.servers[0]!;
    expect(after.connectFailures).toBe(failures.connectFailures);
    expect(new Set((await proxy.stats()).threads.filter((t) => t.accepted > 0).map((t) => t.id)).size).toBe(4);
  });

  it('reloads under load with 4 threads: no failed request; a reload cannot change the thread count', async () => {
    const web = [await httpBackend('w1'), await httpBackend('w2')];
    const echo = await echoBackend();
    cleanups.push(() => echo.close());
    web.forEach((w) => cleanups.push(() => w.close()));
    const httpPort = await freePort();
    const tcpPort = await freePort();
    const extraPort = await freePort();
    const config = (servers: HttpBackend[], extra: boolean): EpoxyConfig => ({
      listeners: [
        { name: 'web', bind: `127.0.0.1:${httpPort}`, mode: 'http', routes: [{ pool: 'w' }] },
        { name: 'tcp', bind: `127.0.0.1:${tcpPort}`, mode: 'tcp', pool: 'e' },
        ...(extra ? [{ name: 'extra', bind: `127.0.0.1:${extraPort}`, mode: 'tcp' as const, pool: 'e' }] : []),
      ],
      pools: { w: { servers: servers.map((s) => s.address) }, e: { servers: [echo.address] } },
      engine: { threads: 4 },
    });
    const proxy = await start(config(web, false));
    const load = startLoad({ httpPort, tcpPort, keepAlive: 8, fresh: 4, tcp: 4 });
    for (let i = 0; i < 12; i++) {
      await sleep(100);
      await proxy.reload(config(i % 2 ? web : [web[i % 4 === 0 ? 0 : 1]!], i % 3 === 0));
    }
    await sleep(100);
    const report = await load.stop();
    for (const kind of [report.httpKeepAlive, report.httpNewConnection, report.tcp]) {
      expect(kind.failures).toEqual([]);
      expect(kind.ok).toBeGreaterThan(10);
    }

    const refused = proxy.reload({ ...config(web, false), engine: { threads: 3 } });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toMatchObject({ issues: [{ path: 'engine.threads', message: expect.stringMatching(/from 4 to 3 threads.*restart/) }] });
    expect((await request(httpPort)).status).toBe(200);
    expect((await proxy.stats()).threads).toHaveLength(4);
  });
});
