/** Native balancers and live pool changes, observed through real connections. */
import { afterEach, describe, expect, it } from 'vitest';

import { Proxy, type PoolConfig } from '../src/index.js';
import { connect, freePort, logger, namedBackend, readLine, sleep, type Backend } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(names: string[], pool: (b: Record<string, Backend>) => PoolConfig) {
  const backends: Record<string, Backend> = {};
  for (const n of names) {
    backends[n] = await namedBackend(n);
    cleanups.push(() => backends[n]!.close());
  }
  const port = await freePort();
  const proxy = await Proxy.start(
    { listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }], pools: { p: pool(backends) } },
    { logger },
  );
  cleanups.push(() => proxy.stop({ graceMs: 200 }));
  const open = async () => {
    const c = await connect(port);
    return { socket: c, name: await readLine(c) };
  };
  const once = async () => {
    const { socket, name } = await open();
    socket.destroy();
    return name;
  };
  return { proxy, backends, open, once };
}

async function waitActive(proxy: Proxy, n: number) {
  for (let i = 0; i < 100 && (await proxy.stats()).totals.active !== n; i++) await sleep(10);
}

describe('roundrobin', () => {
  it('is smooth and weighted: 3:1 over 400 connections, never a burst of 4', async () => {
    const { once } = await setup(['A', 'B'], (b) => ({
      servers: [{ address: b['A']!.address, weight: 3 }, b['B']!.address],
    }));
    const seq: string[] = [];
    for (let i = 0; i < 400; i++) seq.push(await once());
    expect(seq.filter((n) => n === 'A')).toHaveLength(300);
    expect(seq.filter((n) => n === 'B')).toHaveLength(100);
    expect(seq.join('')).not.toContain('AAAA');
  });
});

describe('leastconn', () => {
  it('sends a new connection to the server with the fewest active sessions', async () => {
    const { proxy, open } = await setup(['A', 'B'], (b) => ({
      balance: 'leastconn',
      servers: [b['A']!.address, b['B']!.address],
    }));
    const held = [await open(), await open(), await open(), await open()];
    expect(held.filter((h) => h.name === 'A')).toHaveLength(2);
    // Free two slots on B: the next two connections must both go to B.
    for (const h of held.filter((h) => h.name === 'B')) h.socket.destroy();
    await waitActive(proxy, 2);
    const next = [await open(), await open()];
    expect(next.map((n) => n.name)).toEqual(['B', 'B']);
    [...held, ...next].forEach((h) => h.socket.destroy());
  });
});

describe('live pool changes', () => {
  it('add and remove servers without a restart; a removed server keeps its sessions', async () => {
    const { proxy, backends, open, once } = await setup(['A', 'B'], (b) => ({ servers: [b['A']!.address] }));
    expect(await once()).toBe('A');
    const onA = await open();

    proxy.pool('p').add(backends['B']!.address);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await once());
    expect([...seen].sort()).toEqual(['A', 'B']);

    expect(proxy.pool('p').remove(backends['A']!.address)).toBe(true);
    for (let i = 0; i < 6; i++) expect(await once()).toBe('B');
    expect(proxy.pool('p').servers().map((s) => s.address)).toEqual([backends['B']!.address]);

    // The session opened on A before the removal still works.
    const echoed = new Promise<string>((resolve) => onA.socket.once('data', (d: Buffer) => resolve(d.toString())));
    onA.socket.resume(); // readLine() left it paused
    onA.socket.write('still here');
    expect(await echoed).toBe('still here');
    onA.socket.destroy();
  });

  it('rejects bad live changes with a clear error', async () => {
    const { proxy, backends } = await setup(['A'], (b) => ({ servers: [b['A']!.address] }));
    expect(() => proxy.pool('nope')).toThrow(/no pool named "nope"/);
    expect(() => proxy.pool('p').add('127.0.0.1:99999')).toThrow(/port/);
    expect(() => proxy.pool('p').add(backends['A']!.address)).toThrow(/already has server/);
    expect(() => proxy.pool('p').add('127.0.0.1:1', 0)).toThrow(/weight/);
    expect(proxy.pool('p').remove('127.0.0.1:1')).toBe(false);
  });
});
