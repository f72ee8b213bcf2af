import { describe, expect, it } from 'vitest';
import type { ConfigIssue, ResolvedConfig, ResolvedTcpListener } from '../src/config/types.js';
import { normalizeRange } from '../src/config/preface-config.js';
import { resolveConfig } from '../src/config/validate.js';

/** A valid config with an SNI-routed TCP listener, to break one field at a time. */
function base(): Record<string, any> {
  return {
    listeners: [
      {
        name: 'tls',
        bind: '127.0.0.1:8443',
        mode: 'tcp',
        routes: [{ sni: 'api.example.com', pool: 'api' }, { sni: '*.example.com', alpn: 'h2', pool: 'web' }, { pool: 'web' }],
      },
    ],
    pools: {
      web: { servers: ['127.0.0.1:9001'] },
      api: { servers: ['127.0.0.1:9101', { address: '127.0.0.1:9102', proxyProtocol: false }], proxyProtocol: 'v2' },
    },
  };
}

async function ok(input: unknown): Promise<ResolvedConfig> {
  const r = await resolveConfig(input);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${JSON.stringify(r.issues, null, 2)}`);
  return r.config;
}

async function only(input: unknown): Promise<ConfigIssue> {
  const r = await resolveConfig(input);
  if (r.ok) throw new Error('expected issues, config was valid');
  expect(r.issues, JSON.stringify(r.issues)).toHaveLength(1);
  return r.issues[0]!;
}

describe('config: TCP routes by SNI and ALPN', () => {
  it('resolves routes in order with normalized SNI patterns', async () => {
    const c = base();
    c.listeners[0].routes[0].sni = 'API.Example.COM.';
    const l = (await ok(c)).listeners[0] as ResolvedTcpListener;
    expect(l.pool).toBe('');
    expect(l.routes).toEqual([
      { sni: 'api.example.com', alpn: '', pool: 'api' },
      { sni: '*.example.com', alpn: 'h2', pool: 'web' },
      { sni: '', alpn: '', pool: 'web' },
    ]);
    expect(l.acceptProxy).toBeNull();
  });

  it('a TCP listener with pool keeps working and has no routes', async () => {
    const c = base();
    c.listeners[0] = { name: 'pg', bind: '127.0.0.1:5433', mode: 'tcp', pool: 'web' };
    const l = (await ok(c)).listeners[0] as ResolvedTcpListener;
    expect(l.pool).toBe('web');
    expect(l.routes).toEqual([]);
  });

  it('needs pool or routes, not both and not neither', async () => {
    const both = base();
    both.listeners[0].pool = 'web';
    expect(await only(both)).toEqual({ path: 'listeners[0].routes', message: 'a TCP listener takes either pool or routes, not both' });
    const neither = base();
    delete neither.listeners[0].routes;
    expect((await only(neither)).path).toBe('listeners[0].pool');
  });

  it('names the route whose SNI or pool is wrong', async () => {
    const c = base();
    c.listeners[0].routes[1].sni = 'bad name!';
    expect(await only(c)).toMatchObject({ path: 'listeners[0].routes[1].sni', message: expect.stringContaining('not a host name') });
    const ip = base();
    ip.listeners[0].routes[0].sni = '10.0.0.1';
    expect(await only(ip)).toMatchObject({ path: 'listeners[0].routes[0].sni', message: expect.stringContaining('RFC 6066') });
    const pool = base();
    pool.listeners[0].routes[2].pool = 'nope';
    expect(await only(pool)).toMatchObject({ path: 'listeners[0].routes[2].pool', message: expect.stringContaining('unknown pool "nope"') });
  });

  it('refuses an empty route list, an empty ALPN and HTTP keys in a TCP route', async () => {
    const empty = base();
    empty.listeners[0].routes = [];
    expect(await only(empty)).toEqual({ path: 'listeners[0].routes', message: 'must contain at least one route' });
    const alpn = base();
    alpn.listeners[0].routes[1].alpn = '';
    expect((await only(alpn)).path).toBe('listeners[0].routes[1].alpn');
    const host = base();
    host.listeners[0].routes[0] = { host: 'api.example.com', pool: 'api' };
    expect(await only(host)).toMatchObject({ path: 'listeners[0].routes[0].host', message: expect.stringContaining('unknown key "host"') });
  });

  it('timeouts.inspectMs defaults to 5000 and is checked', async () => {
    expect((await ok(base())).timeouts.inspectMs).toBe(5000);
    const c = base();
    c.timeouts = { inspectMs: 0 };
    expect((await only(c)).path).toBe('timeouts.inspectMs');
  });
});

describe('config: the PROXY protocol', () => {
  it('a pool sets it for its servers; a server may say false', async () => {
    const pools = (await ok(base())).pools;
    const api = pools.find((p) => p.name === 'api')!;
    expect(api.proxyProtocol).toBe('v2');
    expect(api.servers.map((s) => s.proxyProtocol)).toEqual(['v2', null]);
    expect(pools.find((p) => p.name === 'web')!.servers[0]!.proxyProtocol).toBeNull();
  });

  it('refuses unknown versions with the field named', async () => {
    const c = base();
    c.pools.web.proxyProtocol = 'v3';
    expect(await only(c)).toMatchObject({ path: 'pools.web.proxyProtocol', message: expect.stringContaining('"v1" or "v2"') });
    const s = base();
    s.pools.api.servers[1].proxyProtocol = true;
    expect((await only(s)).path).toBe('pools.api.servers[1].proxyProtocol');
  });

  it('acceptProxy: true trusts every source; an object lists ranges, normalized', async () => {
    const c = base();
    c.listeners[0].acceptProxy = true;
    expect((await ok(c)).listeners[0]!.acceptProxy).toEqual({ trusted: [], timeoutMs: 3000 });
    c.listeners[0].acceptProxy = { trusted: ['10.0.0.0/8', '127.0.0.1', '::1', '2001:db8::/32'], timeoutMs: 500 };
    expect((await ok(c)).listeners[0]!.acceptProxy).toEqual({
      trusted: ['10.0.0.0/8', '127.0.0.1/32', '::1/128', '2001:db8::/32'],
      timeoutMs: 500,
    });
  });

  it('acceptProxy works on HTTP listeners too', async () => {
    const c = base();
    c.listeners[0] = { name: 'web', bind: '127.0.0.1:8080', mode: 'http', routes: [{ pool: 'web' }], acceptProxy: { trusted: ['127.0.0.1'] } };
    expect((await ok(c)).listeners[0]!.acceptProxy).toEqual({ trusted: ['127.0.0.1/32'], timeoutMs: 3000 });
  });

  it('names the bad trusted entry, and refuses an empty list or false', async () => {
    const c = base();
    c.listeners[0].acceptProxy = { trusted: ['10.0.0.0/8', '10.1.2.3/8', 'example.com', '10.0.0.0/40'] };
    const r = await resolveConfig(c);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path)).toEqual([
      'listeners[0].acceptProxy.trusted[1]',
      'listeners[0].acceptProxy.trusted[2]',
      'listeners[0].acceptProxy.trusted[3]',
    ]);
    expect(r.issues[0]!.message).toContain('host bits');
    const empty = base();
    empty.listeners[0].acceptProxy = { trusted: [] };
    expect(await only(empty)).toMatchObject({ path: 'listeners[0].acceptProxy.trusted', message: expect.stringContaining('acceptProxy: true') });
    const off = base();
    off.listeners[0].acceptProxy = false;
    expect((await only(off)).path).toBe('listeners[0].acceptProxy');
    const typo = base();
    typo.listeners[0].acceptProxy = { trusetd: ['127.0.0.1'] };
    const all = await resolveConfig(typo);
    expect(all.ok ? [] : all.issues.map((i) => i.message).join('\n')).toContain('did you mean "trusted"');
  });

  it('normalizeRange handles IPv4-mapped and compressed IPv6', () => {
    expect(normalizeRange('::ffff:10.0.0.0/104')).toEqual({ range: '::ffff:10.0.0.0/104' });
    expect(normalizeRange('::ffff:10.0.0.1/104')).toMatchObject({ error: expect.stringContaining('host bits') });
    expect(normalizeRange('fe80::/10')).toEqual({ range: 'fe80::/10' });
    expect(normalizeRange('fe80::1/10')).toMatchObject({ error: expect.stringContaining('host bits') });
    expect(normalizeRange('0.0.0.0/0')).toEqual({ range: '0.0.0.0/0' });
  });
});
