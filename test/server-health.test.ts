/**
 * Server health through a running proxy: active checks (run by the control plane) take a server
 * out of rotation and back; passive health (the engine) ejects a server after errors seen in
 * traffic and takes it back later.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

import { Proxy, type EpoxyConfig, type ServerEvent } from '../src/index.js';
import { connect, freePort, namedBackend, readLine, sleep } from './helpers.js';
import { httpBackend, request } from './http-helpers.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';

const cleanups = cleanupsAfterEach();

async function start(config: EpoxyConfig): Promise<{ proxy: Proxy; events: ServerEvent[] }> {
  const proxy = await startProxy(config, cleanups);
  const events: ServerEvent[] = [];
  proxy.on('server', (e) => events.push(e));
  return { proxy, events };
}

describe('passive health', () => {
  it('ejects a server after repeated connect failures, sends it nothing meanwhile, and takes it back', async () => {
    const good = await namedBackend('A');
    cleanups.push(() => good.close());
    const dead = `127.0.0.1:${await freePort()}`;
    const port = await freePort();
    const { proxy, events } = await start({
      listeners: [{ name: 't', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { servers: [dead, good.address], passive: { errors: 3, windowMs: 10_000, ejectMs: 600 } } },
    });
    for (let i = 0; i < 20; i++) {
      const c = await connect(port);
      expect(await readLine(c)).toBe('A'); // refused ones are redispatched
      c.destroy();
    }
    let stats = await proxy.stats();
    const deadStats = stats.pools[0]!.servers.find((s) => s.address === dead)!;
    expect(deadStats.connectFailures).toBe(3); // after the third, no connection was sent to it
    expect(stats.pools[0]!.retries).toBe(3); // each refused connect went to the other server
    expect(deadStats.state).toBe('ejected');
    expect(deadStats.ejections).toBe(1);
    expect(events).toEqual([expect.objectContaining({ pool: 'p', server: dead, state: 'ejected', source: 'passive' })]);
    expect(proxy.pool('p').servers().find((s) => s.address === dead)?.state).toBe('ejected');

    await once(proxy, 'server');
    expect(events[1]).toEqual(expect.objectContaining({ server: dead, state: 'up', source: 'passive' }));
    for (let i = 0; i < 4; i++) {
      const c = await connect(port);
      expect(await readLine(c)).toBe('A');
      c.destroy();
    }
    stats = await proxy.stats();
    expect(stats.pools[0]!.servers.find((s) => s.address === dead)!.connectFailures).toBeGreaterThan(3); // tried again
  });

  it('counts 5xx responses, and never ejects the last server that is up', async () => {
    const flaky = await httpBackend('F', (_req, res) => {
      res.statusCode = 500;
      res.setHeader('x-backend', 'F');
      res.end('f\n');
    });
    const steady = await httpBackend('S');
    cleanups.push(() => flaky.close(), () => steady.close());
    const port = await freePort();
    const { proxy, events } = await start({
      listeners: [{ name: 'h', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [flaky.address, steady.address], passive: { errors: 4, windowMs: 10_000, ejectMs: 60_000 } } },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await request(port)).status);
    expect(statuses.filter((s) => s === 500)).toHaveLength(4);
    expect(flaky.seen).toHaveLength(4);
    expect(events.map((e) => [e.server, e.state])).toEqual([[flaky.address, 'ejected']]);

    // A pool's last server up is never ejected: that would turn every request into a 503.
    const soloPort = await freePort();
    const solo = await start({
      listeners: [{ name: 'h2', bind: `127.0.0.1:${soloPort}`, mode: 'http', routes: [{ pool: 'q' }] }],
      pools: { q: { servers: [flaky.address], passive: { errors: 2 } } },
    });
    for (let i = 0; i < 6; i++) expect((await request(soloPort)).status).toBe(500);
    expect(solo.events).toEqual([]);
    expect((await solo.proxy.stats()).pools[0]!.servers[0]!.state).toBe('up');
    expect((await proxy.stats()).pools[0]!.servers[0]!.state).toBe('ejected');
  });

  it('can be turned off', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const good = await namedBackend('A');
    cleanups.push(() => good.close());
    const port = await freePort();
    const { proxy } = await start({
      listeners: [{ name: 't', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
      pools: { p: { servers: [dead, good.address], passive: false } },
    });
    for (let i = 0; i < 10; i++) {
      const c = await connect(port);
      expect(await readLine(c)).toBe('A');
      c.destroy();
    }
    const s = (await proxy.stats()).pools[0]!.servers.find((x) => x.address === dead)!;
    expect(s.connectFailures).toBe(5); // round robin keeps trying it every other time
    expect(s.state).toBe('up');
  });
});

describe('active health checks', () => {
  it('marks a server down after failed HTTP checks, sends it no request while down, and brings it back', async () => {
    let sick = false;
    const checksOf = (b: { seen: Array<{ url: string }> }) => b.seen.filter((r) => r.url === '/healthz').length;
    const handler = (name: string) => (req: { url?: string }, res: import('node:http').ServerResponse) => {
      res.statusCode = req.url === '/healthz' && sick && name === 'B' ? 503 : 200;
      res.setHeader('x-backend', name);
      res.end(`${name}\n`);
    };
    const a = await httpBackend('A', handler('A'));
    const b = await httpBackend('B', handler('B'));
    cleanups.push(() => a.close(), () => b.close());
    const port = await freePort();
    const { proxy, events } = await start({
      listeners: [{ name: 'h', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [a.address, b.address], health: { path: '/healthz', intervalMs: 100, timeoutMs: 100, fall: 2, rise: 2 } } },
    });
    const served = async (n: number) => {
      const names: string[] = [];
      for (let i = 0; i < n; i++) names.push((await request(port)).headers['x-backend']!);
      return names;
    };
    expect(new Set(await served(4))).toEqual(new Set(['A', 'B']));

    sick = true;
    const checksBefore = checksOf(b);
    await once(proxy, 'server');
    expect(events.at(-1)).toEqual(expect.objectContaining({ server: b.address, state: 'down', source: 'check' }));
    expect(events.at(-1)!.reason).toMatch(/503/);
    expect(checksOf(b) - checksBefore).toBeGreaterThanOrEqual(2); // fall: 2
    const requestsToB = b.seen.length - checksOf(b);
    expect(await served(10)).toEqual(Array(10).fill('A'));
    expect(b.seen.length - checksOf(b)).toBe(requestsToB);
    expect((await proxy.stats()).pools[0]!.servers[1]!.state).toBe('down');
    expect(proxy.pool('p').servers()[1]!.state).toBe('down');

    sick = false;
    await once(proxy, 'server');
    expect(events.at(-1)).toEqual(expect.objectContaining({ server: b.address, state: 'up', source: 'check' }));
    expect(new Set(await served(4))).toEqual(new Set(['A', 'B']));
  });

  it('does not check a server in maintenance, and starts it up again when it leaves', async () => {
    const a = await httpBackend('A');
    cleanups.push(() => a.close());
    const dead = `127.0.0.1:${await freePort()}`;
    const port = await freePort();
    const { proxy, events } = await start({
      listeners: [{ name: 'h', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [a.address, dead], health: { type: 'tcp', intervalMs: 100, fall: 1, rise: 1 } } },
    });
    await once(proxy, 'server');
    expect(events.at(-1)).toEqual(expect.objectContaining({ server: dead, state: 'down', source: 'check' }));
    proxy.pool('p').maint(dead);
    expect(events.at(-1)).toEqual(expect.objectContaining({ server: dead, state: 'maint', source: 'admin' }));
    await sleep(400);
    expect(events.at(-1)!.state).toBe('maint'); // no check verdicts while in maintenance
    proxy.pool('p').ready(dead);
    await once(proxy, 'server'); // still dead: down again after one failed check
    expect(events.at(-1)).toEqual(expect.objectContaining({ server: dead, state: 'down', source: 'check' }));
    for (let i = 0; i < 5; i++) expect((await request(port)).status).toBe(200);
  });
});
