/** Config: `redis`, `hostMaps`, `{ hostMap }` routes and `{ redis }` pools — defaults and every refusal, naming the field. */
import { describe, expect, it } from 'vitest';
import type { ConfigIssue, ResolvedConfig, ResolvedHttpListener, ResolvedTcpListener } from '../src/config/types.js';
import { resolveConfig } from '../src/config/validate.js';

/** The issue's fleet config, to break one field at a time. */
function base(): Record<string, any> {
  return {
    redis: { url: 'redis://user:secret@127.0.0.1:6379/0' },
    hostMaps: {
      sites: { key: 'hostnames:{host}:backends', pool: { retries: 2, passive: { errors: 3 }, proxyProtocol: 'v2' } },
    },
    listeners: [
      { name: 'web', bind: '127.0.0.1:8080', mode: 'http', routes: [{ hostMap: 'sites' }, { pool: 'fallback' }] },
      { name: 'tls', bind: '127.0.0.1:8443', mode: 'tcp', routes: [{ hostMap: 'sites' }, { pool: 'fallback' }] },
    ],
    pools: {
      fallback: { servers: ['127.0.0.1:9001'] },
      apps: { balance: { hash: 'host' }, servers: { redis: 'epoxy:pool:apps' } },
    },
  };
}

async function ok(input: unknown): Promise<ResolvedConfig> {
  const r = await resolveConfig(input);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${JSON.stringify(r.issues, null, 2)}`);
  return r.config;
}

async function issues(input: unknown): Promise<ConfigIssue[]> {
  const r = await resolveConfig(input);
  if (r.ok) throw new Error('expected issues, config was valid');
  return r.issues;
}

describe('config: host maps and Redis pools', () => {
  it('resolves the issue\'s config with its defaults', async () => {
    const c = await ok(base());
    expect(c.redis).toEqual({ url: 'redis://user:secret@127.0.0.1:6379/0', channel: 'epoxy:changes', resyncMs: 30000 });
    expect(c.hostMaps).toEqual([{ name: 'sites', key: 'hostnames:{host}:backends', format: 'set', balance: 'roundrobin' }]);
    const web = c.listeners[0] as ResolvedHttpListener;
    expect(web.routes).toEqual([
      { host: '', path: '', pool: 'sites', hostMap: 'sites' },
      { host: '', path: '', pool: 'fallback' },
    ]);
    const tls = c.listeners[1] as ResolvedTcpListener;
    expect(tls.routes[0]).toEqual({ sni: '', alpn: '', pool: 'sites', hostMap: 'sites' });
    // The map's pool: named after it, no servers in the config, the map's settings.
    const sites = c.pools.find((p) => p.name === 'sites')!;
    expect(sites).toMatchObject({ servers: [], retries: 2, balance: 'roundrobin', proxyProtocol: 'v2', source: { hostMap: 'sites' } });
    expect(sites.passive).toMatchObject({ errors: 3 });
    const apps = c.pools.find((p) => p.name === 'apps')!;
    expect(apps).toMatchObject({ servers: [], balance: 'hash', source: { redis: 'epoxy:pool:apps' } });
  });

  it('takes the default key, the hipache format, a balance, a cache file and redis settings', async () => {
    const c = base();
    c.redis = { url: 'rediss://127.0.0.1:6380', channel: 'fleet', resyncMs: 500 };
    c.hostMaps = { frontends: { format: 'hipache', balance: 'leastconn', cacheFile: '/tmp/frontends.json' } };
    c.listeners[0].routes[0] = { hostMap: 'frontends', path: '/app/' };
    c.listeners[1].routes[0] = { hostMap: 'frontends', alpn: 'h2' };
    const r = await ok(c);
    expect(r.redis).toEqual({ url: 'rediss://127.0.0.1:6380', channel: 'fleet', resyncMs: 500 });
    expect(r.hostMaps).toEqual([
      { name: 'frontends', key: 'epoxy:host:{host}', format: 'hipache', balance: 'leastconn', cacheFile: '/tmp/frontends.json' },
    ]);
    expect((r.listeners[0] as ResolvedHttpListener).routes[0]).toEqual({ host: '', path: '/app/', pool: 'frontends', hostMap: 'frontends' });
    expect((r.listeners[1] as ResolvedTcpListener).routes[0]).toEqual({ sni: '', alpn: 'h2', pool: 'frontends', hostMap: 'frontends' });
  });

  it('host maps and Redis pools need redis', async () => {
    const c = base();
    delete c.redis;
    const found = await issues(c);
    expect(found).toEqual(
      expect.arrayContaining([
        { path: 'hostMaps', message: expect.stringContaining('needs redis') },
        { path: 'pools.apps.servers', message: expect.stringContaining('needs redis') },
      ]),
    );
    expect(found).toHaveLength(2);
  });

  it('refuses a bad URL, a key without {host} or with two, and bad fields, naming each', async () => {
    const c = base();
    c.redis.url = 'http://127.0.0.1:6379';
    c.hostMaps.sites.key = 'hostnames:backends';
    c.hostMaps.other = { key: '{host}:{host}', format: 'json', balance: { hash: 'host' }, pool: { servers: ['127.0.0.1:1'] } };
    c.redis.resyncMs = 10;
    const found = await issues(c);
    const paths = found.map((i) => i.path).sort();
    expect(paths).toEqual([
      'hostMaps.other.balance',
      'hostMaps.other.format',
      'hostMaps.other.key',
      'hostMaps.other.pool.servers',
      'hostMaps.sites.key',
      'redis.resyncMs',
      'redis.url',
    ]);
    expect(found.find((i) => i.path === 'hostMaps.sites.key')!.message).toContain('{host} exactly once');
    expect(found.find((i) => i.path === 'hostMaps.other.pool.servers')!.message).toMatch(/unknown key "servers"/);
  });

  it('a route takes pool or hostMap, one of them, and the map must exist', async () => {
    const c = base();
    c.listeners[0].routes = [{ hostMap: 'sites', pool: 'fallback' }, { path: '/x' }, { hostMap: 'stes' }, { host: 'a.example.com', hostMap: 'sites' }];
    c.listeners[1].routes = [{ sni: 'a.example.com', hostMap: 'sites' }, { hostMap: 'nope' }];
    const found = await issues(c);
    expect(found).toEqual([
      { path: 'listeners[0].routes[0].hostMap', message: 'a route takes either pool or hostMap, not both' },
      { path: 'listeners[0].routes[1].pool', message: 'is required (the name of a pool), or give hostMap' },
      { path: 'listeners[0].routes[2].hostMap', message: 'unknown host map "stes" (host maps are: sites)' },
      { path: 'listeners[0].routes[3].host', message: expect.stringContaining('leave host out') },
      { path: 'listeners[1].routes[0].sni', message: expect.stringContaining('leave sni out') },
      { path: 'listeners[1].routes[1].hostMap', message: 'unknown host map "nope" (host maps are: sites)' },
    ]);
  });

  it('a host map may not have a pool\'s name, and names are checked', async () => {
    const c = base();
    c.hostMaps.fallback = {};
    c.hostMaps['bad name'] = {};
    const found = await issues(c);
    expect(found.map((i) => i.path).sort()).toEqual(['hostMaps.fallback', 'hostMaps["bad name"]']);
    expect(found.find((i) => i.path === 'hostMaps.fallback')!.message).toContain('has the name of a pool');
  });

  it('suggests the right key for a typo in a host map and in redis', async () => {
    const c = base();
    c.hostMaps.sites.fromat = 'set';
    c.redis.chanel = 'x';
    const found = await issues(c);
    expect(found).toEqual(
      expect.arrayContaining([
        { path: 'hostMaps.sites.fromat', message: 'unknown key "fromat" (did you mean "format"?)' },
        { path: 'redis.chanel', message: 'unknown key "chanel" (did you mean "channel"?)' },
      ]),
    );
  });

  it('checks a host map pool\'s health check like a pool\'s', async () => {
    const c = base();
    c.hostMaps.sites.pool.health = { type: 'tcp', path: '/healthz' };
    const found = await issues(c);
    expect(found).toHaveLength(1);
    expect(found[0]!.path).toBe('hostMaps.sites.pool.health.path');
  });

  it('a config without redis resolves with no host maps', async () => {
    const c = await ok({ listeners: [{ name: 'w', bind: '127.0.0.1:8080', mode: 'http', routes: [{ pool: 'p' }] }], pools: { p: { servers: ['127.0.0.1:1'] } } });
    expect(c.hostMaps).toEqual([]);
    expect(c.redis).toBeUndefined();
    expect(c.pools[0]!.source).toBeUndefined();
  });
});
