/**
 * Consistent hashing and power-of-two-choices: the ring's remapping guarantees (through
 * pool.pick, which runs the engine's own ring), agreement between pool.pick and the engine's
 * routing of real requests, and p2c's spread over held connections.
 */
import { describe, expect, it } from 'vitest';

import { Proxy, type EpoxyConfig, type PoolConfig } from '../src/index.js';
import { connect, freePort, namedBackend, readLine, sleep, type Backend } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';

const cleanups = cleanupsAfterEach();

const start = (config: EpoxyConfig): Promise<Proxy> => startProxy(config, cleanups);

/** A proxy whose only pool hashes by host over `servers` (they need not listen: pick() only). */
async function hashPool(servers: string[]): Promise<Proxy> {
  return start({
    listeners: [{ name: 'web', bind: `127.0.0.1:${await freePort()}`, mode: 'http', routes: [{ pool: 'apps' }] }],
    pools: { apps: { balance: { hash: 'host' }, servers } },
  });
}

const addresses = (n: number, base = 20_000) => Array.from({ length: n }, (_, i) => `127.0.0.1:${base + i}`);
const domains = (n: number) => Array.from({ length: n }, (_, i) => `app${i}.example.com`);

async function httpBackends(names: string[]): Promise<Record<string, HttpBackend>> {
  const out: Record<string, HttpBackend> = {};
  for (const n of names) {
    out[n] = await httpBackend(n);
    cleanups.push(() => out[n]!.close());
  }
  return out;
}

describe('consistent hash ring', () => {
  it('moves at most 1.5/11 of the keys when a server joins 10, and none between unchanged servers', async () => {
    const proxy = await hashPool(addresses(10));
    const apps = proxy.pool('apps');
    const keys = domains(10_000);
    const before = keys.map((k) => apps.pick(k));
    apps.add('127.0.0.1:20010');
    const after = keys.map((k) => apps.pick(k));
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      expect(after[i]).toBe('127.0.0.1:20010'); // a key only ever moves to the new server
    }
    expect(moved / keys.length).toBeLessThanOrEqual(1.5 / 11);
    expect(moved / keys.length).toBeGreaterThan(0.5 / 11); // the new server does take its share
  });

  it('spreads keys within 40 % of an even share and weighs servers', async () => {
    const proxy = await hashPool(addresses(5));
    const counts = new Map<string, number>();
    for (const k of domains(20_000)) counts.set(proxy.pool('apps').pick(k)!, (counts.get(proxy.pool('apps').pick(k)!) ?? 0) + 1);
    for (const c of counts.values()) expect(Math.abs(c - 4000)).toBeLessThan(1600);

    const weighted = await start({
      listeners: [{ name: 'w', bind: `127.0.0.1:${await freePort()}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { balance: { hash: 'path' }, servers: [{ address: '127.0.0.1:21000', weight: 3 }, '127.0.0.1:21001'] } },
    });
    const heavy = Array.from({ length: 8000 }, (_, i) => `/p/${i}`).filter((p) => weighted.pool('p').pick(p) === '127.0.0.1:21000');
    expect(heavy.length / 8000).toBeGreaterThan(0.65);
    expect(heavy.length / 8000).toBeLessThan(0.85);
  });

  it('gives the same answers after a restart and whatever the order of the servers', async () => {
    const servers = addresses(7);
    const keys = domains(2000);
    const first = await hashPool(servers);
    const a = keys.map((k) => first.pool('apps').pick(k));
    await first.stop({ graceMs: 0 });
    const second = await hashPool([...servers].reverse());
    expect(keys.map((k) => second.pool('apps').pick(k))).toEqual(a);
  });

  it('sends a drained server’s keys elsewhere, leaves every other key where it was, and takes them back', async () => {
    const proxy = await hashPool(addresses(6));
    const apps = proxy.pool('apps');
    const keys = domains(3000);
    const before = keys.map((k) => apps.pick(k));
    apps.drain('127.0.0.1:20002');
    const during = keys.map((k) => apps.pick(k));
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === '127.0.0.1:20002') expect(during[i]).not.toBe('127.0.0.1:20002');
      else expect(during[i]).toBe(before[i]);
    }
    apps.ready('127.0.0.1:20002');
    expect(keys.map((k) => apps.pick(k))).toEqual(before);
    for (const s of addresses(6)) apps.maint(s);
    expect(apps.pick('x.example.com')).toBeUndefined();
  });

  it('normalizes a host key as the engine does, and refuses pick() on a pool that does not hash', async () => {
    const proxy = await hashPool(addresses(8));
    const apps = proxy.pool('apps');
    for (const d of domains(200)) {
      const want = apps.pick(d);
      expect(apps.pick(d.toUpperCase())).toBe(want);
      expect(apps.pick(`${d}.`)).toBe(want);
      expect(apps.pick(`${d}:8080`)).toBe(want);
    }
    const rr = await start({
      listeners: [{ name: 't', bind: `127.0.0.1:${await freePort()}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { servers: addresses(2) } },
    });
    expect(() => rr.pool('p').pick('a')).toThrow(/does not hash/);
  });
});

describe('hash balancing in the engine', () => {
  it('routes every request by its Host exactly where pool.pick says, whatever the case, port or trailing dot', async () => {
    const backends = await httpBackends(['A', 'B', 'C', 'D']);
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'apps' }] }],
      pools: { apps: { balance: { hash: 'host' }, servers: Object.values(backends).map((b) => b.address) } },
    });
    const byAddress = new Map(Object.entries(backends).map(([name, b]) => [b.address, name]));
    const served = new Set<string>();
    for (const d of domains(120)) {
      const want = byAddress.get(proxy.pool('apps').pick(d)!);
      for (const host of [d, d.toUpperCase(), `${d}.`, `${d}:${port}`]) {
        const r = await request(port, { headers: { host } });
        expect(r.status).toBe(200);
        expect(r.headers['x-backend'], host).toBe(want);
        served.add(r.headers['x-backend']!);
      }
    }
    expect(served.size).toBe(4);
  });

  it('hashes a header (missing: round robin) and a path without its query', async () => {
    const backends = await httpBackends(['A', 'B', 'C']);
    const port = await freePort();
    const servers = Object.values(backends).map((b) => b.address);
    const proxy = await start({
      listeners: [
        { name: 'h', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ path: '/p/', pool: 'bypath' }, { pool: 'tenants' }] },
      ],
      pools: {
        tenants: { balance: { hash: 'header', header: 'X-Tenant' }, servers },
        bypath: { balance: { hash: 'path' }, servers },
      },
    });
    const byAddress = new Map(Object.entries(backends).map(([name, b]) => [b.address, name]));
    for (let t = 0; t < 30; t++) {
      const want = byAddress.get(proxy.pool('tenants').pick(`tenant-${t}`)!);
      for (let i = 0; i < 3; i++) {
        const r = await request(port, { headers: { 'x-tenant': `tenant-${t}` } });
        expect(r.headers['x-backend']).toBe(want);
      }
    }
    const untagged = new Set<string>();
    for (let i = 0; i < 9; i++) untagged.add((await request(port)).headers['x-backend']!);
    expect(untagged.size).toBe(3);
    for (let p = 0; p < 30; p++) {
      const want = byAddress.get(proxy.pool('bypath').pick(`/p/${p}`)!);
      expect((await request(port, { path: `/p/${p}?v=${p * 7}` })).headers['x-backend']).toBe(want);
    }
  });

  it('hashes TCP connections by client address', async () => {
    const names = ['A', 'B', 'C', 'D', 'E'];
    const backends: Backend[] = [];
    for (const n of names) {
      const b = await namedBackend(n);
      backends.push(b);
      cleanups.push(() => b.close());
    }
    const port = await freePort();
    const proxy = await start({
      listeners: [{ name: 't', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { balance: { hash: 'client' }, servers: backends.map((b) => b.address) } },
    });
    const want = names[backends.findIndex((b) => b.address === proxy.pool('p').pick('127.0.0.1'))];
    for (let i = 0; i < 20; i++) {
      const c = await connect(port);
      expect(await readLine(c)).toBe(want);
      c.destroy();
    }
  });
});

describe('p2c', () => {
  async function heldConnections(pool: (b: Backend[]) => PoolConfig, n: number) {
    const backends: Backend[] = [];
    for (const name of ['A', 'B', 'C', 'D']) {
      const b = await namedBackend(name);
      backends.push(b);
      cleanups.push(() => b.close());
    }
    const port = await freePort();
    await start({ listeners: [{ name: 't', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }], pools: { p: pool(backends) } });
    const counts: Record<string, number> = { A: 0, B: 0, C: 0, D: 0 };
    for (let i = 0; i < n; i++) {
      const c = await connect(port);
      cleanups.push(async () => c.destroy());
      counts[await readLine(c)]!++;
    }
    return counts;
  }

  it('spreads held connections evenly (two random draws, the less loaded wins)', async () => {
    const counts = await heldConnections((b) => ({ balance: 'p2c', servers: b.map((x) => x.address) }), 80);
    for (const c of Object.values(counts)) expect(c).toBeGreaterThanOrEqual(15); // 20 each when even
  });

  it('weighs load by weight', async () => {
    const counts = await heldConnections(
      (b) => ({ balance: 'p2c', servers: [{ address: b[0]!.address, weight: 4 }, ...b.slice(1).map((x) => x.address)] }),
      70,
    );
    // A takes 4 of every 7 when balanced by active/weight: 40 of 70.
    expect(counts['A']).toBeGreaterThanOrEqual(32);
    expect(counts['A']).toBeLessThanOrEqual(46);
    await sleep(0);
  });
});
