/**
 * The documents' scenario across a fleet (issue 16), with examples/fleet.config.ts: two `epoxy
 * run` processes share one redis-server. A host pinned in Redis by one SADD + PUBLISH is routed
 * there by both within a second, whatever its case; pool `apps` hashes hosts over servers listed
 * in Redis, and `epoxy servers … add` while traffic flows moves the same ≈1/N of the domains to
 * the new backend on both instances, with no failed request.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';
import { expect, it } from 'vitest';

import { cli, runsKilledAfterEach, startEpoxyFile, type Run } from './epoxy-run.js';
import { cleanupsAfterEach, httpBackendsAfterAll } from './fixtures.js';
import { freePort, runNode, sleep } from './helpers.js';
import { request } from './http-helpers.js';
import { makeCerts } from './peers/certs.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

const example = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../examples/fleet.config.ts');
const runs = runsKilledAfterEach();
const cleanups = cleanupsAfterEach();
const backend = httpBackendsAfterAll();

interface Instance {
  run: Run;
  port: number;
  admin: number;
}

async function instance(redis: RedisServer, env: Record<string, string> = {}): Promise<Instance> {
  const [port, admin] = [await freePort(), await freePort()];
  const run = await startEpoxyFile(example, ['--no-watch'], {
    EPOXY_REDIS_URL: redis.url,
    EPOXY_HTTP_BIND: `127.0.0.1:${port}`,
    EPOXY_ADMIN_BIND: `127.0.0.1:${admin}`,
    ...env,
  });
  runs.push(run);
  return { run, port, admin };
}

/** Which backend answers `host` on an instance ('' when the request failed). */
async function who(port: number, host: string, agent?: http.Agent): Promise<string> {
  const r = await request(port, { headers: { host }, ...(agent ? { agent } : {}) });
  return r.status === 200 ? (r.headers['x-backend'] ?? '') : '';
}

async function routeTable(port: number, hosts: string[]): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    return await Promise.all(hosts.map((h) => who(port, h, agent)));
  } finally {
    agent.destroy();
  }
}

async function poolSize(admin: number): Promise<number> {
  const r = await request(admin, { path: '/api/pools/apps/servers' });
  return (JSON.parse(r.body.toString()) as { servers: unknown[] }).servers.length;
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

it('two instances follow one Redis: a pinned host within 1 s on both, and a backend added under load moves the same ≈1/N of the domains on both, 0 failed', async () => {
  const [a, b, c, d, pinned] = [await backend('A'), await backend('B'), await backend('C'), await backend('D'), await backend('P')];
  const redis = await startRedisServer();
  cleanups.push(() => redis.stop());
  const w = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  cleanups.push(async () => w.disconnect());
  await w.sadd('epoxy:pool:apps', a.address, b.address, c.address);

  const one = await instance(redis);
  const two = await instance(redis);
  const domains = Array.from({ length: 200 }, (_, i) => `d${i}.example.com`);
  const before1 = await routeTable(one.port, domains);
  const before2 = await routeTable(two.port, domains);
  expect(before1).toEqual(before2);
  expect(new Set(before1)).toEqual(new Set(['A', 'B', 'C']));

  // A host pinned by the documents' layout: SADD then PUBLISH, as redis-cli would.
  await w.sadd('hostnames:www.foo.com:backends', pinned.address);
  const published = Date.now();
  await w.publish('epoxy:changes', 'www.foo.com');
  await until('both instances to route www.foo.com to P', async () => (await who(one.port, 'www.foo.com')) === 'P' && (await who(two.port, 'www.foo.com')) === 'P', 1000);
  expect(Date.now() - published).toBeLessThan(1000);
  expect(await who(one.port, 'WWW.Foo.com.')).toBe('P');
  expect(await who(two.port, 'WWW.Foo.com.')).toBe('P');

  // Continuous load on both instances over every domain while a backend joins.
  let running = true;
  const failures: string[] = [];
  let done = 0;
  const load = (port: number) =>
    (async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      let i = 0;
      while (running) {
        const host = domains[i++ % domains.length]!;
        try {
          const name = await who(port, host, agent);
          if (name === '') failures.push(`${port} ${host}`);
          else done++;
        } catch (err) {
          failures.push(`${port} ${host}: ${String(err)}`);
        }
      }
      agent.destroy();
    })();
  const loads = [load(one.port), load(two.port)];
  await sleep(300);
  // The operator command reads the same example, so it needs the same Redis.
  process.env['EPOXY_REDIS_URL'] = redis.url;
  cleanups.push(async () => delete process.env['EPOXY_REDIS_URL']);
  const added = await runNode([cli, 'servers', example, 'add', 'apps', d.address], 20_000);
  expect(added.code, added.stderr).toBe(0);
  await until('both instances to have 4 servers in apps', async () => (await poolSize(one.admin)) === 4 && (await poolSize(two.admin)) === 4, 2000);
  await sleep(300);
  running = false;
  await Promise.all(loads);
  expect(failures).toEqual([]);
  expect(done).toBeGreaterThan(100);

  const after1 = await routeTable(one.port, domains);
  const after2 = await routeTable(two.port, domains);
  expect(after1).toEqual(after2);
  const moved = domains.filter((_, i) => after1[i] !== before1[i]);
  // Only to the new backend, never between two unchanged ones; about a quarter of the domains.
  for (const host of moved) expect(after1[domains.indexOf(host)]).toBe('D');
  expect(moved.length / domains.length).toBeGreaterThan(0.1);
  expect(moved.length / domains.length).toBeLessThan(0.4);
}, 90_000);

it('follows a Redis that speaks TLS only (rediss://), verifying its certificate', async () => {
  const [pinned, other] = [await backend('T'), await backend('O')];
  const certs = await makeCerts(['localhost']);
  const leaf = certs.certs['localhost']!;
  const redis = await startRedisServer({ tls: { certFile: leaf.certFile, keyFile: leaf.keyFile, caFile: certs.caFile } });
  cleanups.push(() => redis.stop());
  expect(redis.url).toMatch(/^rediss:\/\/localhost:/);
  const w = new Redis(redis.url, { maxRetriesPerRequest: 1, tls: { ca: certs.ca } });
  cleanups.push(async () => w.disconnect());
  await w.sadd('hostnames:secure.example:backends', pinned.address);
  await w.sadd('epoxy:pool:apps', other.address);

  // The instance trusts the test CA the way a deployment would (NODE_EXTRA_CA_CERTS).
  const trusting = await instance(redis, { NODE_EXTRA_CA_CERTS: certs.caFile });
  expect(await who(trusting.port, 'secure.example')).toBe('T');
  await w.multi().sadd('hostnames:later.example:backends', pinned.address).publish('epoxy:changes', 'later.example').exec();
  await until('later.example to route over TLS pub/sub', async () => (await who(trusting.port, 'later.example')) === 'T', 1000);

  // Without the CA the certificate is refused: no connection, so the map is empty and a
  // warning says redis is unreachable — never a silent insecure fallback.
  const doubting = await instance(redis);
  expect(await who(doubting.port, 'secure.example')).toBe('');
  await doubting.run.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('redis is unreachable at start'), 0, 10_000);
}, 60_000);
