/** maxconn per server with the pool's queue, and maxconn per listener, over real sockets. */
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';

import { Proxy, type EpoxyConfig } from '../src/index.js';
import { connect, freePort, namedBackend, readLine, sleep } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';

const cleanups = cleanupsAfterEach();

const start = (config: EpoxyConfig): Promise<Proxy> => startProxy(config, cleanups);

/** An HTTP backend that holds every request `holdMs` and records arrival order and peak concurrency. */
async function slowBackend(holdMs: number): Promise<HttpBackend & { order: string[]; peak: () => number }> {
  const order: string[] = [];
  let active = 0;
  let peak = 0;
  const b = await httpBackend('slow', (req, res) => {
    order.push(String(req.headers['x-seq']));
    peak = Math.max(peak, ++active);
    setTimeout(() => {
      active--;
      res.end('ok\n');
    }, holdMs);
  });
  cleanups.push(() => b.close());
  return Object.assign(b, { order, peak: () => peak });
}

describe('server maxconn and the pool queue', () => {
  it('serves 20 concurrent requests through maxconn 2, in order of arrival, never more than 2 at once', async () => {
    const backend = await slowBackend(40);
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [{ address: backend.address, maxconn: 2 }], queue: { timeoutMs: 10_000 } } },
      // One thread takes the requests in the order sent 5 ms apart; over several threads
      // arrival is as the threads see it (test/threads.test.ts).
      engine: { threads: 1 },
    });
    const replies: Array<Promise<number>> = [];
    for (let i = 0; i < 20; i++) {
      replies.push(request(port, { headers: { 'x-seq': String(i) } }).then((r) => r.status));
      await sleep(5); // arrival order at the proxy is the order sent
    }
    expect(await Promise.all(replies)).toEqual(Array(20).fill(200));
    expect(backend.peak()).toBe(2);
    expect(backend.order).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    const pool = (await proxy.stats()).pools[0]!;
    expect(pool.queuedTotal).toBeGreaterThanOrEqual(17);
    expect(pool.queued).toBe(0);
    expect(pool.queueTimeouts).toBe(0);
  });

  it('answers 503 promptly to requests that wait longer than the queue timeout', async () => {
    const backend = await slowBackend(1500);
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [{ address: backend.address, maxconn: 2 }], queue: { timeoutMs: 150 } } },
    });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => request(port, { headers: { 'x-seq': String(i) } }).then((r) => ({ status: r.status, ms: Date.now() - started }))),
    );
    const rejected = results.filter((r) => r.status === 503);
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    expect(rejected).toHaveLength(8);
    for (const r of rejected) expect(r.ms).toBeLessThan(1000); // long before the slow ones finish
    expect((await proxy.stats()).pools[0]!.queueTimeouts).toBe(8);
  });

  it('refuses at once with 503 when the queue is at its limit', async () => {
    const backend = await slowBackend(600);
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [{ address: backend.address, maxconn: 1 }], queue: { timeoutMs: 5000, limit: 2 } } },
    });
    const first = request(port, { headers: { 'x-seq': '0' } });
    await sleep(50);
    const queued = [1, 2].map((i) => request(port, { headers: { 'x-seq': String(i) } }));
    await sleep(50);
    const pool = (await proxy.stats()).pools[0]!;
    expect([pool.active, pool.queued]).toEqual([3, 2]); // requests on the pool now: 1 served, 2 waiting
    const t0 = Date.now();
    const refused = await request(port, { headers: { 'x-seq': '3' } });
    expect(refused.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(300);
    expect((await first).status).toBe(200);
    expect((await Promise.all(queued)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('queues TCP connections until a slot frees', async () => {
    const b = await namedBackend('A');
    cleanups.push(() => b.close());
    const port = await freePort();
    await start({
      listeners: [{ name: 't', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { servers: [{ address: b.address, maxconn: 1 }] } },
    });
    const first = await connect(port);
    expect(await readLine(first)).toBe('A');
    const second = await connect(port);
    let got = '';
    void readLine(second).then((l) => (got = l), () => {});
    await sleep(200);
    expect(got).toBe(''); // waiting in the queue
    first.destroy();
    for (let i = 0; i < 100 && got === ''; i++) await sleep(10);
    expect(got).toBe('A');
    second.destroy();
  });
});

describe('listener maxconn', () => {
  it('stops accepting at maxconn and resumes when a connection closes', async () => {
    const b = await namedBackend('A');
    cleanups.push(() => b.close());
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 't', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p', maxconn: 2 }],
      pools: { p: { servers: [b.address] } },
    });
    const held = [await connect(port), await connect(port)];
    for (const h of held) expect(await readLine(h)).toBe('A');
    const third = net.connect(port, '127.0.0.1'); // completes in the kernel's backlog
    let got = '';
    void readLine(third).then((l) => (got = l), () => {});
    await sleep(200);
    expect(got).toBe('');
    expect((await proxy.stats()).listeners[0]!.active).toBe(2);
    held[0]!.destroy();
    for (let i = 0; i < 100 && got === ''; i++) await sleep(10);
    expect(got).toBe('A');
    third.destroy();
    held[1]!.destroy();
  });
});
