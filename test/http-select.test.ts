/** The select hook on HTTP listeners: per request, with method, path, host and headers. */
import * as http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { Proxy, type SelectContext } from '../src/index.js';
import { freePort, logger, pool } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';

let proxy: Proxy;
let port: number;
let stable: HttpBackend;
let beta: HttpBackend;
const seen: SelectContext[] = [];

beforeAll(async () => {
  stable = await httpBackend('stable');
  beta = await httpBackend('beta');
  port = await freePort();
  proxy = await Proxy.start(
    {
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ host: 'app.test', pool: 'stable' }] }],
      pools: { stable: { servers: [stable.address] }, beta: { servers: [beta.address] } },
      select: (ctx) => {
        seen.push(ctx);
        const r = ctx.request!;
        if (r.headers['x-tenant'] === 'beta') return 'beta';
        if (r.path.startsWith('/server/')) return beta.address;
        if (r.path === '/throw') throw new Error('hook bug');
        if (r.host === 'elsewhere.test') return Promise.resolve('beta'); // no route: the hook decides
        return undefined;
      },
    },
    { logger },
  );
});

afterAll(async () => {
  await proxy.stop({ graceMs: 200 });
  await stable.close();
  await beta.close();
});

const ask = (path: string, headers: Record<string, string> = {}, agent?: http.Agent) =>
  request(port, { path, headers: { host: 'App.Test:80', ...headers }, agent });

it('decides per request on a keep-alive connection, from headers, path and host', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  expect((await ask('/a', {}, agent)).headers['x-backend']).toBe('stable');
  expect((await ask('/b', { 'x-tenant': 'beta' }, agent)).headers['x-backend']).toBe('beta');
  expect((await ask('/server/x', {}, agent)).headers['x-backend']).toBe('beta');
  expect((await ask('/c', {}, agent)).headers['x-backend']).toBe('stable');
  agent.destroy();
  const ctx = seen.find((c) => c.request?.path === '/b')!;
  expect(ctx.listener).toBe('web');
  expect(ctx.clientAddress).toBe('127.0.0.1');
  expect(ctx.request!.method).toBe('GET');
  expect(ctx.request!.host).toBe('app.test');
  expect(ctx.request!.headers['x-tenant']).toBe('beta');
  expect(Object.isFrozen(ctx.request!.headers)).toBe(true);
});

it('routes requests no route matches when the hook picks a pool; 404 when it does not', async () => {
  expect((await request(port, { headers: { host: 'elsewhere.test' } })).headers['x-backend']).toBe('beta');
  expect((await request(port, { headers: { host: 'nowhere.test' } })).status).toBe(404);
});

it('a throwing hook falls back to the routes', async () => {
  expect((await ask('/throw')).headers['x-backend']).toBe('stable');
});

it('5,000 requests through the hook, each routed right', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const ok = await pool(Array.from({ length: 5000 }, (_, i) => i), 50, async (i) => {
    const tenant = i % 3 === 0 ? 'beta' : 'none';
    const r = await ask(`/n${i}`, { 'x-tenant': tenant }, agent);
    return r.headers['x-backend'] === (tenant === 'beta' ? 'beta' : 'stable');
  });
  agent.destroy();
  expect(ok.filter((x) => !x)).toHaveLength(0);
  const stats = await proxy.stats();
  expect(stats.totals.selectTimeouts).toBe(0);
}, 60_000);
