/** Passive health's warnings stay bounded when the last server of a pool keeps failing. */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { freePort } from './helpers.js';
import { rawExchange } from './http-helpers.js';

const cleanups = cleanupsAfterEach();

describe('passive health with one server left', () => {
  it('says "not ejecting the last available server" once per ejection period, not per failure', async () => {
    const [port, dead] = [await freePort(), await freePort()];
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const proxy = await startProxy(
      {
        listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }],
        pools: { p: { servers: [`127.0.0.1:${dead}`], retries: 0, passive: { errors: 2, windowMs: 10_000, ejectMs: 10_000 } } },
      },
      cleanups,
      pino({ level: 'info' }, sink),
    );
    for (let i = 0; i < 30; i++) {
      const r = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', 2000);
      expect(r.data.toString()).toMatch(/^HTTP\/1\.1 503/);
    }
    await new Promise((r) => setTimeout(r, 200));
    const kept = lines.filter((l) => l['msg'] === 'not ejecting the last available server');
    const threads = (await proxy.stats()).threads.length;
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThanOrEqual(threads);
  });
});
