/**
 * The source documents' platform, end to end with examples/paas.config.ts: domains stick to the
 * backend that runs their app, the admin reload URL reaches the server that serves the domain in
 * its path (decided by the TS hook with pool.pick), case does not matter, and adding a backend
 * under traffic moves only about 1/N of the domains — to the new backend and nowhere else.
 */
import { describe, expect, it } from 'vitest';

import { loadConfigFile, type EpoxyConfig } from '../src/index.js';
import { freePort } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';

const cleanups = cleanupsAfterEach();

const ADMIN = 'admin.paas.local';
const domains = Array.from({ length: 80 }, (_, i) => `www.site${i}.com`);
const mixedCase = (d: string) => d.replace(/[a-z]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c));

async function backends(n: number): Promise<HttpBackend[]> {
  const out: HttpBackend[] = [];
  for (let i = 0; i < n; i++) {
    const b = await httpBackend(`app${i}`);
    cleanups.push(() => b.close());
    out.push(b);
  }
  return out;
}

async function servedBy(port: number, host: string, path = '/'): Promise<string> {
  const r = await request(port, { path, headers: { host } });
  expect(r.status, `${host}${path}`).toBe(200);
  return r.headers['x-backend']!;
}

describe('examples/paas.config.ts', () => {
  it('sends each domain, its mixed-case spelling and its admin reload URL to the same backend', async () => {
    const apps = await backends(3);
    const port = await freePort();
    process.env['EPOXY_APPS'] = apps.map((b) => b.address).join(',');
    process.env['EPOXY_BIND'] = `127.0.0.1:${port}`;
    const config = (await loadConfigFile('examples/paas.config.ts')) as EpoxyConfig;
    await startProxy(config, cleanups);

    const home = new Map<string, string>();
    for (const d of domains) home.set(d, await servedBy(port, d));
    expect(new Set(home.values()).size).toBe(3); // the domains are spread over every backend
    for (const d of domains) {
      expect(await servedBy(port, mixedCase(d))).toBe(home.get(d));
      expect(await servedBy(port, ADMIN, `/user/fred/webapps/${mixedCase(d)}/reload`)).toBe(home.get(d));
    }
    // The hook's answer is the pool's hash: the reload request reached the domain's backend.
    const reloads = apps.flatMap((b) => b.seen.filter((s) => s.url.endsWith('/reload')).map((s) => [b.address, s.url]));
    expect(reloads).toHaveLength(domains.length);
  });

  it('moves about 1/N of the domains when a backend joins under traffic, only to the new one', async () => {
    // Enough domains that sampling noise (±0.05 of the share with 80) cannot carry a ring share
    // near 1/4 past the bound below: the share the new server gets varies with its port too.
    const sample = Array.from({ length: 400 }, (_, i) => `www.join${i}.com`);
    const apps = await backends(4);
    const port = await freePort();
    process.env['EPOXY_APPS'] = apps.slice(0, 3).map((b) => b.address).join(',');
    process.env['EPOXY_BIND'] = `127.0.0.1:${port}`;
    const proxy = await startProxy((await loadConfigFile('examples/paas.config.ts')) as EpoxyConfig, cleanups);

    const before = new Map<string, string>();
    for (const d of sample) before.set(d, await servedBy(port, d));
    let running = true;
    let failures = 0;
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        const r = await request(port, { headers: { host: sample[i % sample.length]! } }).catch(() => undefined);
        if (r?.status !== 200) failures++;
      }
    })();
    proxy.pool('apps').add(apps[3]!.address);
    const after = new Map<string, string>();
    for (const d of sample) after.set(d, await servedBy(port, d));
    running = false;
    await traffic;

    const moved = sample.filter((d) => before.get(d) !== after.get(d));
    for (const d of moved) expect(after.get(d)).toBe('app3');
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length / sample.length).toBeLessThanOrEqual(1.5 / 4);
    expect(failures).toBe(0);
    for (const d of moved.slice(0, 10)) {
      expect(await servedBy(port, ADMIN, `/user/ann/webapps/${d}/reload`)).toBe('app3');
    }
  });
});
