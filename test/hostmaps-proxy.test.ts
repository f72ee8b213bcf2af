/**
 * Host maps and Redis-backed pools through a running proxy (issue 16), on a real redis-server:
 * HTTP routed by Host and TCP by SNI through `{ hostMap }` routes, changes followed by PUBLISH,
 * by keyspace notifications and by the periodic resync, the hipache format with wildcards,
 * `servers: { redis }` pools, the admin endpoint, stats and metrics, Redis going away under
 * load, a start from the cache file or with an empty map, and garbage in Redis.
 */
import { mkdtempSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { Proxy, type EpoxyConfig } from '../src/index.js';
import { cleanupsAfterEach, httpBackendsAfterAll } from './fixtures.js';
import { freePort, logger, sleep } from './helpers.js';
import { request, type HttpBackend } from './http-helpers.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

const cleanups = cleanupsAfterEach();
const backend = httpBackendsAfterAll();

async function redisServer(options: Parameters<typeof startRedisServer>[0] = {}): Promise<{ srv: RedisServer; w: Redis }> {
  const srv = await startRedisServer(options);
  cleanups.push(() => srv.stop());
  const w = new Redis(srv.url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  w.on('error', () => undefined);
  await w.connect();
  cleanups.push(async () => w.disconnect());
  return { srv, w };
}

async function start(config: EpoxyConfig): Promise<Proxy> {
  const proxy = await Proxy.start(config, { logger });
  cleanups.push(() => proxy.stop({ graceMs: 100 }));
  return proxy;
}

/** The backend name that answered a request for `host`, or the status when none did. */
async function who(port: number, host: string): Promise<string> {
  const r = await request(port, { headers: { host } });
  return r.status === 200 ? (r.headers['x-backend'] ?? '?') : String(r.status);
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 3000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function fleetConfig(url: string, port: number, fallback: HttpBackend, extra: Partial<EpoxyConfig> = {}): EpoxyConfig {
  return {
    redis: { url, resyncMs: 60_000 },
    hostMaps: { sites: { key: 'hostnames:{host}:backends' } },
    listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ hostMap: 'sites' }, { pool: 'fallback' }] }],
    pools: { fallback: { servers: [fallback.address] } },
    ...extra,
  };
}

describe('host maps through the proxy', () => {
  it('routes by the map loaded at start, follows SADD+PUBLISH within 1 s, normalizes hosts, falls through for unknown hosts', async () => {
    const [a, b, fallback] = [await backend('A'), await backend('B'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:www.foo.com:backends', a.address);
    await w.sadd('hostnames:WWW.Bar.com.:backends', b.address);
    const port = await freePort();
    await start(fleetConfig(srv.url, port, fallback));
    expect(await who(port, 'www.foo.com')).toBe('A');
    expect(await who(port, 'WWW.Foo.COM.')).toBe('A');
    expect(await who(port, 'www.foo.com:8080')).toBe('A');
    expect(await who(port, 'www.bar.com')).toBe('B');
    expect(await who(port, 'unknown.example')).toBe('F');

    await w.multi().sadd('hostnames:www.new.com:backends', b.address).publish('epoxy:changes', 'www.new.com').exec();
    const ms = await until('www.new.com to route to B', async () => (await who(port, 'www.new.com')) === 'B', 1000);
    expect(ms).toBeLessThan(1000);

    // Replace foo's server: only B from now on.
    await w.multi().del('hostnames:www.foo.com:backends').sadd('hostnames:www.foo.com:backends', b.address).publish('epoxy:changes', 'www.foo.com').exec();
    await until('www.foo.com to move to B', async () => (await who(port, 'www.foo.com')) === 'B', 1000);
    // Delete it: unknown again, the fallback answers.
    await w.multi().del('hostnames:www.foo.com:backends').publish('epoxy:changes', 'www.foo.com').exec();
    await until('www.foo.com to fall through', async () => (await who(port, 'www.foo.com')) === 'F', 1000);
  });

  it('spreads one host over exactly its own servers, round robin', async () => {
    const [a, b, c, fallback] = [await backend('A'), await backend('B'), await backend('C'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:two.example:backends', a.address, b.address);
    await w.sadd('hostnames:one.example:backends', c.address);
    const port = await freePort();
    await start(fleetConfig(srv.url, port, fallback));
    const seen: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const name = await who(port, 'two.example');
      seen[name] = (seen[name] ?? 0) + 1;
    }
    expect(Object.keys(seen).sort()).toEqual(['A', 'B']);
    expect(seen['A']).toBeGreaterThanOrEqual(14);
    expect(seen['B']).toBeGreaterThanOrEqual(14);
  });

  it('follows a change without PUBLISH within redis.resyncMs, and with keyspace notifications within 1 s', async () => {
    const [a, fallback] = [await backend('A'), await backend('F')];
    const quiet = await redisServer();
    const port = await freePort();
    const config = fleetConfig(quiet.srv.url, port, fallback);
    config.redis!.resyncMs = 500;
    await start(config);
    const t0 = Date.now();
    await quiet.w.sadd('hostnames:silent.example:backends', a.address);
    await until('the resync to pick up silent.example', async () => (await who(port, 'silent.example')) === 'A', 2500);
    expect(Date.now() - t0).toBeGreaterThan(50);

    const notifying = await redisServer({ notifyKeyspaceEvents: 'KA' });
    const port2 = await freePort();
    await start(fleetConfig(notifying.srv.url, port2, fallback));
    await notifying.w.sadd('hostnames:notified.example:backends', a.address);
    const ms = await until('keyspace notification for notified.example', async () => (await who(port2, 'notified.example')) === 'A', 1000);
    expect(ms).toBeLessThan(1000);
  });

  it('hipache format: identifiers, wildcards walking up the labels, most specific first', async () => {
    const [a, b, fallback] = [await backend('A'), await backend('B'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.rpush('frontend:*.foo.com', 'foo-wild', `http://${a.address}`);
    await w.rpush('frontend:*.api.foo.com', 'api-wild', `http://${b.address}`);
    await w.rpush('frontend:garbage.foo.com', 'garbage', 'not a url', 'ftp://1.2.3.4:21');
    const port = await freePort();
    await start({
      ...fleetConfig(srv.url, port, fallback),
      hostMaps: { sites: { key: 'frontend:{host}', format: 'hipache' } },
    });
    expect(await who(port, 'www.foo.com')).toBe('A');
    expect(await who(port, 'v1.api.foo.com')).toBe('B');
    expect(await who(port, 'foo.com')).toBe('F');  // *.foo.com is not foo.com
    // An entry whose every backend is garbage: found, but no server — 503, never another route.
    expect(await who(port, 'garbage.foo.com')).toBe('503');
  });

  it('a { redis } pool follows its SET and HASH, hashing hosts over the members', async () => {
    const [a, b, fallback] = [await backend('A'), await backend('B'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('epoxy:pool:apps', a.address);
    const port = await freePort();
    const proxy = await start({
      redis: { url: srv.url },
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'apps' }] }],
      pools: { apps: { balance: { hash: 'host' }, servers: { redis: 'epoxy:pool:apps' } }, fallback: { servers: [fallback.address] } },
    });
    expect(await who(port, 'x.example')).toBe('A');
    await w.multi().sadd('epoxy:pool:apps', b.address).publish('epoxy:changes', 'pool:apps').exec();
    await until('pool apps to list two servers', () => proxy.pool('apps').servers().length === 2, 1000);
    const hosts = Array.from({ length: 40 }, (_, i) => `h${i}.example`);
    const names = new Set<string>();
    for (const h of hosts) {
      const name = await who(port, h);
      names.add(name);
      expect(name).toBe(proxy.pool('apps').pick(h) === a.address ? 'A' : 'B');
    }
    expect([...names].sort()).toEqual(['A', 'B']);
    expect(() => proxy.pool('apps').add('127.0.0.1:1')).toThrow(/come from Redis key "epoxy:pool:apps"/);
    await w.multi().srem('epoxy:pool:apps', a.address).publish('epoxy:changes', 'pool:apps').exec();
    await until('A to leave pool apps', () => proxy.pool('apps').servers().length === 1, 1000);
    for (const h of hosts.slice(0, 10)) expect(await who(port, h)).toBe('B');
  });

  it('TCP routes by SNI through the same map', async () => {
    // Plain TCP servers that count connections: the proxy forwards the ClientHello unchanged and
    // the handshake then fails, which is fine — only where the connection went matters.
    const net = await import('node:net');
    const tls = await import('node:tls');
    const counted = async () => {
      const hits = { n: 0 };
      const s = net.createServer((c) => {
        hits.n++;
        c.on('error', () => undefined);
        c.once('data', () => c.destroy());
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      cleanups.push(() => new Promise((r) => s.close(() => r(undefined))));
      return { hits, address: `127.0.0.1:${(s.address() as import('node:net').AddressInfo).port}` };
    };
    const [secure, other] = [await counted(), await counted()];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:secure.example:backends', secure.address);
    const port = await freePort();
    await start({
      redis: { url: srv.url },
      hostMaps: { sites: { key: 'hostnames:{host}:backends' } },
      listeners: [{ name: 'tls', bind: `127.0.0.1:${port}`, mode: 'tcp', routes: [{ hostMap: 'sites' }, { pool: 'fallback' }] }],
      pools: { fallback: { servers: [other.address] } },
    });
    const hello = (servername: string) =>
      new Promise<void>((resolve) => {
        const t = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
        t.on('error', () => resolve());
        t.on('close', () => resolve());
      });
    await hello('Secure.Example');
    expect([secure.hits.n, other.hits.n]).toEqual([1, 0]);
    await hello('other.example');
    expect([secure.hits.n, other.hits.n]).toEqual([1, 1]);
  });

  it('GET /api/hostmaps/:map?host= says where a host goes; /stats and /metrics show the map', async () => {
    const [a, fallback] = [await backend('A'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:*.foo.com:backends', a.address);
    const [port, adminPort] = [await freePort(), await freePort()];
    const proxy = await start({ ...fleetConfig(srv.url, port, fallback), admin: { bind: `127.0.0.1:${adminPort}` } });
    expect(await who(port, 'www.foo.com')).toBe('A');
    expect(await who(port, 'nope.example')).toBe('F');
    const get = async (p: string) => {
      const r = await request(adminPort, { path: p });
      return { status: r.status, body: r.status === 200 && p !== '/metrics' ? JSON.parse(r.body.toString()) : r.body.toString() };
    };
    const hit = await get('/api/hostmaps/sites?host=WWW.foo.com.');
    expect(hit).toEqual({
      status: 200,
      body: { map: 'sites', host: 'www.foo.com', entry: '*.foo.com', servers: [{ address: a.address, state: 'up' }], connection: 'connected' },
    });
    const miss = await get('/api/hostmaps/sites?host=nope.example');
    expect(miss.body).toMatchObject({ host: 'nope.example', entry: null, servers: [] });
    expect((await get('/api/hostmaps/nosuch?host=x')).status).toBe(404);
    expect((await get('/api/hostmaps/sites')).status).toBe(400);

    const stats = await proxy.stats();
    expect(stats.hostMaps).toEqual([
      expect.objectContaining({ name: 'sites', hosts: 1, connection: 'connected', syncErrors: 0, fromCache: false }),
    ]);
    expect(stats.hostMaps[0]!.hits).toBeGreaterThanOrEqual(1);
    expect(stats.hostMaps[0]!.misses).toBeGreaterThanOrEqual(1);
    expect(stats.hostMaps[0]!.lastSyncAt).toBeGreaterThan(Date.now() - 60_000);
    const view = await get('/stats');
    expect(view.body.hostMaps[0]).toMatchObject({ name: 'sites', hosts: 1, connection: 'connected' });
    // The map's servers are a pool named after the map.
    expect(view.body.pools.map((p: { name: string }) => p.name)).toContain('sites');
    const metrics = (await get('/metrics')).body as string;
    expect(metrics).toMatch(/^epoxy_hostmap_hosts\{map="sites"\} 1$/m);
    expect(metrics).toMatch(/^epoxy_hostmap_redis_connection\{map="sites",state="connected"\} 1$/m);
    expect(metrics).toMatch(/^epoxy_hostmap_lookups_total\{map="sites",result="hit"\} [1-9]/m);
  });

  it('keeps routing known hosts while Redis is down (0 failed requests), shows reconnecting, and follows a change after it is back', async () => {
    const [a, b, fallback] = [await backend('A'), await backend('B'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:steady.example:backends', a.address);
    const port = await freePort();
    const proxy = await start(fleetConfig(srv.url, port, fallback));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    cleanups.push(async () => agent.destroy());
    let running = true;
    const failures: string[] = [];
    let ok = 0;
    const loop = (async () => {
      while (running) {
        try {
          const r = await request(port, { headers: { host: 'steady.example' }, agent });
          if (r.status === 200 && (r.headers['x-backend'] === 'A' || r.headers['x-backend'] === 'B')) ok++;
          else failures.push(`${r.status} ${r.headers['x-backend'] ?? ''}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    })();
    await sleep(200);
    await srv.crash();
    await until('the map to show reconnecting', async () => (await proxy.stats()).hostMaps[0]!.connection === 'reconnecting', 5000);
    await sleep(500);
    // Back, empty (no persistence), then written again with another server: followed after the reconnect.
    await srv.restart();
    const w2 = new Redis(srv.url, { maxRetriesPerRequest: 1 });
    cleanups.push(async () => w2.disconnect());
    await w2.multi().sadd('hostnames:steady.example:backends', b.address).publish('epoxy:changes', 'steady.example').exec();
    await until('steady.example to move to B after the reconnect', async () => (await who(port, 'steady.example')) === 'B', 5000);
    running = false;
    await loop;
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    expect((await proxy.stats()).hostMaps[0]!.connection).toBe('connected');
    void w;
  });

  it('starts from the cache file while Redis is down; without one, unknown hosts fall through and a warning says why', async () => {
    const [a, fallback] = [await backend('A'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:cached.example:backends', a.address);
    const dir = mkdtempSync(path.join(tmpdir(), 'epoxy-hostmap-cache-'));
    const cacheFile = path.join(dir, 'sites.json');
    const port = await freePort();
    const withCache = (p: number): EpoxyConfig => ({
      ...fleetConfig(srv.url, p, fallback),
      hostMaps: { sites: { key: 'hostnames:{host}:backends', cacheFile } },
    });
    const first = await start(withCache(port));
    expect(await who(port, 'cached.example')).toBe('A');
    await first.stop({ graceMs: 0 });
    await srv.stop();

    const port2 = await freePort();
    const second = await start(withCache(port2));
    expect(await who(port2, 'cached.example')).toBe('A');
    expect((await second.stats()).hostMaps[0]).toMatchObject({ fromCache: true, hosts: 1 });
    expect((await second.stats()).hostMaps[0]!.connection).not.toBe('connected');

    const port3 = await freePort();
    const lines: string[] = [];
    const { pino } = await import('pino');
    const { Writable } = await import('node:stream');
    const sink = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
    const third = await Proxy.start(fleetConfig(srv.url, port3, fallback), { logger: pino({ level: 'warn' }, sink) });
    cleanups.push(() => third.stop({ graceMs: 0 }));
    expect(await who(port3, 'cached.example')).toBe('F');
    expect(lines.join('')).toMatch(/redis is unreachable at start; the map is empty, unknown hosts fall through to the next route/);
    expect(lines.join('')).not.toContain('secret');
  });

  it('skips garbage values and wrong key types, drops deleted keys, never crashes', async () => {
    const [a, fallback] = [await backend('A'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:mixed.example:backends', a.address, 'not-an-address', '999.1.1.1:80', 'host.name:80');
    await w.set('hostnames:string.example:backends', a.address);
    await w.hset('hostnames:hash.example:backends', 'x', 'y');
    const port = await freePort();
    const proxy = await start(fleetConfig(srv.url, port, fallback));
    expect(await who(port, 'mixed.example')).toBe('A');
    expect(await who(port, 'string.example')).toBe('F');
    expect(await who(port, 'hash.example')).toBe('F');
    await w.multi().del('hostnames:mixed.example:backends').publish('epoxy:changes', 'mixed.example').exec();
    await until('mixed.example to fall through', async () => (await who(port, 'mixed.example')) === 'F', 1000);
    await w.multi().sadd('hostnames:bad host!:backends', a.address).publish('epoxy:changes', 'bad host!').exec();
    await sleep(100);
    expect((await proxy.stats()).hostMaps[0]!.hosts).toBe(0);
    expect(await who(port, 'mixed.example')).toBe('F');
  });

  it('a reload keeps the map and its hosts; changing the map itself is refused until a restart', async () => {
    const [a, fallback] = [await backend('A'), await backend('F')];
    const { srv, w } = await redisServer();
    await w.sadd('hostnames:kept.example:backends', a.address);
    const port = await freePort();
    const config = fleetConfig(srv.url, port, fallback);
    const proxy = await start(config);
    await w.multi().sadd('hostnames:later.example:backends', a.address).publish('epoxy:changes', 'later.example').exec();
    await until('later.example to route', async () => (await who(port, 'later.example')) === 'A', 1000);
    await proxy.reload({ ...config, hostMaps: { sites: { key: 'hostnames:{host}:backends', balance: 'leastconn', pool: { retries: 1 } } } });
    expect(await who(port, 'kept.example')).toBe('A');
    expect(await who(port, 'later.example')).toBe('A');
    await expect(proxy.reload({ ...config, hostMaps: { sites: { key: 'other:{host}' } } })).rejects.toThrow(/reload rejected/);
    await expect(proxy.reload({ ...config, redis: { url: srv.url, channel: 'elsewhere' } })).rejects.toThrow(/reload rejected/);
    expect(await who(port, 'kept.example')).toBe('A');
  });
});
