/** Passive health: the engine ejects a server after errors seen in traffic and takes it back later. */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import { Proxy, type EpoxyConfig, type ServerEvent } from '../src/index.js';
import { connect, freePort, logger, namedBackend, readLine, sleep } from './helpers.js';
import { httpBackend, request } from './http-helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(config: EpoxyConfig): Promise<{ proxy: Proxy; events: ServerEvent[] }> {
  const proxy = await Proxy.start(config, { logger });
  cleanups.push(() => proxy.stop({ graceMs: 200 }));
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
