/**
 * /stats' recentLatency: latencies over the last admin.latencyWindowMs. The window arithmetic on
 * made-up histograms (which copy is the base, counters that start over, servers added since),
 * then a real proxy whose one-second window forgets requests while `latency` keeps them.
 */
import * as http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';

import { LatencyWindows, listenerKey, serverKey } from '../src/admin/latency-window.js';
import { Proxy } from '../src/index.js';
import type { LatencyHistogram, ProxyStats } from '../src/stats.js';
import { freePort, logger, sleep } from './helpers.js';
import { httpBackend, request } from './http-helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A histogram of `n` latencies in the second bucket, 1.5 ms each. */
const hist = (n: number): LatencyHistogram => ({ counts: [0, n, 0], sumMs: 1.5 * n });

/** The part of a stats read the windows look at: one listener, one pool with the servers given. */
function read(listener: number, servers: Record<string, number>): ProxyStats {
  return {
    listeners: [{ name: 'web', totalMs: hist(listener) }],
    pools: [{ name: 'p', servers: Object.entries(servers).map(([address, n]) => ({ address, responseMs: hist(n) })) }],
  } as unknown as ProxyStats;
}

describe('LatencyWindows', () => {
  it('subtracts the newest copy at least a window old, or the oldest early on', () => {
    const w = new LatencyWindows(60_000);
    expect(w.stepMs).toBe(10_000);
    expect(w.recent(listenerKey('web'), hist(5), 0)).toEqual({ histogram: hist(0), windowMs: 0 });
    for (let t = 0; t <= 90_000; t += 10_000) w.observe(read(t / 1000, {}), t);  // 0, 10, ... 90 counted by then
    // At 95 s the base is the copy from 30 s (30 counted): 65 s of window, 95 - 30 latencies.
    expect(w.recent(listenerKey('web'), hist(95), 95_000)).toEqual({ histogram: hist(65), windowMs: 65_000 });
    // Early on: the oldest copy (0 s).
    const early = new LatencyWindows(60_000);
    early.observe(read(0, {}), 0);
    early.observe(read(4, {}), 10_000);
    expect(early.recent(listenerKey('web'), hist(7), 15_000)).toEqual({ histogram: hist(7), windowMs: 15_000 });
    // A call sooner than half a step after the last adds no copy.
    early.observe(read(6, {}), 12_000);
    expect(early.recent(listenerKey('web'), hist(7), 71_000)).toEqual({ histogram: hist(3), windowMs: 61_000 });
  });

  it('counts all of a histogram that started over or is newer than the base', () => {
    const w = new LatencyWindows(10_000);
    w.observe(read(10, { 'a:1': 8 }), 0);
    // Server a:1 was removed and added back (its counts start from 0); b:2 is new.
    const now = 5_000;
    expect(w.recent(serverKey('p', 'a:1'), hist(3), now)).toEqual({ histogram: hist(3), windowMs: now });
    expect(w.recent(serverKey('p', 'b:2'), hist(2), now)).toEqual({ histogram: hist(2), windowMs: now });
    expect(w.recent(serverKey('p', 'a:1'), hist(9), now)).toEqual({ histogram: hist(1), windowMs: now });
  });
});

describe('GET /stats recentLatency', () => {
  it('forgets requests older than admin.latencyWindowMs; latency keeps them', async () => {
    const backend = await httpBackend('A', (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('ok\n'));
    cleanups.push(() => backend.close());
    const [web, admin] = [await freePort(), await freePort()];
    const config = (latencyWindowMs: number) => ({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http' as const, routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [backend.address] } },
      admin: { bind: `127.0.0.1:${admin}`, latencyWindowMs },
    });
    const proxy = await Proxy.start(config(1000), { logger });
    cleanups.push(() => proxy.stop({ graceMs: 100 }));
    const stats = async () => {
      const s = (await (await fetch(`http://127.0.0.1:${admin}/stats`)).json()) as {
        listeners: Array<{ latency: { count: number }; recentLatency: { count: number; windowMs: number; p50Ms: number | null } }>;
        pools: Array<{ servers: Array<{ latency: { count: number }; recentLatency: { count: number } }> }>;
      };
      return { listener: s.listeners[0]!, server: s.pools[0]!.servers[0]! };
    };
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) expect((await request(web, { path: `/r${i}` })).status).toBe(200);
    };

    /** Requests counted by the listener and the server: in the recent window, and since start. */
    const counts = async () => {
      const s = await stats();
      return { recent: [s.listener.recentLatency.count, s.server.recentLatency.count], total: [s.listener.latency.count, s.server.latency.count] };
    };

    await send(5);
    const first = await stats();
    expect(first.listener.recentLatency.p50Ms).not.toBeNull();
    expect(first.listener.recentLatency.windowMs).toBeLessThanOrEqual(1000 + 200);
    expect(await counts()).toEqual({ recent: [5, 5], total: [5, 5] });

    // Quiet for longer than the window: the recent figures empty, the since-start ones stay.
    await sleep(1500);
    const quiet = await stats();
    expect(quiet.listener.recentLatency).toMatchObject({ count: 0, p50Ms: null });
    expect(quiet.listener.recentLatency.windowMs).toBeGreaterThanOrEqual(1000);
    expect(await counts()).toEqual({ recent: [0, 0], total: [5, 5] });

    await send(3);
    expect(await counts()).toEqual({ recent: [3, 3], total: [8, 8] });

    // A reload with another window length starts the window over (the same admin server stays).
    await proxy.reload(config(60_000));
    await sleep(50);
    expect((await stats()).listener.recentLatency.windowMs).toBeLessThan(1000);
    expect(await counts()).toEqual({ recent: [0, 0], total: [8, 8] });
    await send(2);
    expect(await counts()).toEqual({ recent: [2, 2], total: [10, 10] });
  });
});
