/** The TypeScript select hook: routing by client address, and every way a hook can fail. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Proxy, type SelectContext } from '../src/index.js';
import { connect, freePort, logger, namedBackend, pool, readLine, type Backend } from './helpers.js';

describe('select hook', () => {
  let proxy: Proxy;
  let port: number;
  const backends: Record<string, Backend> = {};
  const calls: SelectContext[] = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    for (const name of ['A', 'B', 'C']) backends[name] = await namedBackend(name);
    port = await freePort();
    const capture = logger.child({});
    capture.warn = ((obj: unknown, msg?: string) => {
      warnings.push(typeof obj === 'string' ? obj : (msg ?? ''));
    }) as typeof capture.warn;
    proxy = await Proxy.start(
      {
        listeners: [{ name: 'front', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'a' }],
        pools: {
          a: { servers: [backends['A']!.address] },
          b: { servers: [backends['B']!.address] },
          c: { servers: [backends['C']!.address] },
        },
        timeouts: { selectMs: 200 },
        select: (ctx) => {
          calls.push(ctx);
          switch (ctx.clientAddress) {
            case '127.0.0.2':
              return Promise.resolve('b'); // a pool, asynchronously
            case '127.0.0.3':
              return backends['C']!.address; // a server, synchronously
            case '127.0.0.4':
              throw new Error('hook bug');
            case '127.0.0.5':
              return Promise.reject(new Error('rejected'));
            case '127.0.0.6':
              return new Promise((resolve) => setTimeout(() => resolve('b'), 1000)); // too slow
            case '127.0.0.7':
              return 'no-such-pool';
            default:
              return undefined;
          }
        },
      },
      { logger: capture },
    );
  });

  afterAll(async () => {
    await proxy.stop({ graceMs: 200 });
    for (const b of Object.values(backends)) await b.close();
  });

  async function whoAnswers(localAddress: string): Promise<string> {
    const c = await connect(port, { localAddress });
    const name = await readLine(c);
    c.destroy();
    return name;
  }

  it('sees the listener and the client address and routes to a pool or a server', async () => {
    expect(await whoAnswers('127.0.0.2')).toBe('B');
    expect(await whoAnswers('127.0.0.3')).toBe('C');
    expect(await whoAnswers('127.0.0.1')).toBe('A');
    const seen = calls.find((c) => c.clientAddress === '127.0.0.2')!;
    expect(seen.listener).toBe('front');
    expect(seen.clientPort).toBeGreaterThan(0);
  });

  it('falls back to the balancer when the hook throws, rejects, answers nonsense or is too slow', async () => {
    warnings.length = 0;
    expect(await whoAnswers('127.0.0.4')).toBe('A');
    expect(await whoAnswers('127.0.0.5')).toBe('A');
    expect(await whoAnswers('127.0.0.7')).toBe('A');
    const started = Date.now();
    expect(await whoAnswers('127.0.0.6')).toBe('A');
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(150);
    expect(waited).toBeLessThan(900);
    expect(warnings.some((w) => w.includes('threw'))).toBe(true);
    expect(warnings.some((w) => w.includes('rejected'))).toBe(true);
    expect(warnings.some((w) => w.includes('neither a pool nor a server'))).toBe(true);
    expect(warnings.some((w) => w.includes('did not answer within 200 ms'))).toBe(true);
  });

  it('routes 10,000 connections through the hook, every one correctly', async () => {
    const expected: Record<string, string> = { '127.0.0.2': 'B', '127.0.0.3': 'C', '127.0.0.8': 'A' };
    const locals = Object.keys(expected);
    const before = calls.length;
    const answers = await pool(Array.from({ length: 10_000 }, (_, i) => locals[i % locals.length]!), 200, async (local) => ({
      local,
      got: await whoAnswers(local),
    }));
    const wrong = answers.filter((a) => a.got !== expected[a.local]);
    expect(wrong).toHaveLength(0);
    expect(calls.length - before).toBe(10_000);
    const stats = await proxy.stats();
    expect(stats.totals.selectTimeouts).toBe(0);
    // Batching: far fewer JS wake-ups than connections.
    expect(stats.totals.jsWakeups).toBeLessThan(stats.totals.accepted);
  }, 120_000);
});
