import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative as relativePath, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import { describe, expect, it } from 'vitest';
import type { ConfigIssue, ResolvedConfig } from '../src/config/types.js';
import { allowedCpus, autoThreads } from '../src/config/threads.js';
import { resolveConfig, type ResolveOptions } from '../src/config/validate.js';

/**
 * The issues of a JSON-able config, found by a child process that loads the validator as root
 * and then becomes nobody (uid/gid 65534) before validating: the way to see a permission check
 * fail when the tests run as root. It loads first because nobody may not be able to enter the
 * checkout at all (a clone in /root or in a private mktemp dir).
 */
async function issuesAsNobody(input: unknown): Promise<ConfigIssue[]> {
  const validate = new URL('../dist/config/validate.js', import.meta.url).pathname;
  const script = `const { resolveConfig } = await import(${JSON.stringify(validate)});
process.setgroups([]);
process.setgid(65534);
process.setuid(65534);
const r = await resolveConfig(${JSON.stringify(input)});
console.log(JSON.stringify(r.ok ? 'valid' : r.issues));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: '/' });
  if (child.status !== 0) throw new Error(`child as nobody failed: ${child.stderr}`);
  const result = JSON.parse(child.stdout) as ConfigIssue[] | 'valid';
  if (result === 'valid') throw new Error('expected issues, config was valid');
  return result;
}

/** A valid config to break one field at a time. */
function base(): Record<string, any> {
  return {
    listeners: [{ name: 'web', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web' }],
    pools: {
      web: { servers: ['127.0.0.1:9001', '127.0.0.1:9002'] },
      api: { servers: ['127.0.0.1:9101'] },
    },
  };
}

async function ok(input: unknown, options?: ResolveOptions): Promise<ResolvedConfig> {
  const r = await resolveConfig(input, options);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${JSON.stringify(r.issues, null, 2)}`);
  return r.config;
}

async function issues(input: unknown, options?: ResolveOptions): Promise<ConfigIssue[]> {
  const r = await resolveConfig(input, options);
  if (r.ok) throw new Error('expected issues, config was valid');
  return r.issues;
}

/** The single issue a config has; fails if it has more or none. */
async function only(input: unknown, options?: ResolveOptions): Promise<ConfigIssue> {
  const all = await issues(input, options);
  expect(all, JSON.stringify(all)).toHaveLength(1);
  return all[0]!;
}

describe('resolveConfig: valid configs and defaults', () => {
  it('fills every default', async () => {
    const config = await ok(base());
    expect(config.listeners).toEqual([
      { name: 'web', mode: 'tcp', bind: '127.0.0.1:8080', backlog: 4096, maxconn: 0, congestion: '', pool: 'web', routes: [], acceptProxy: null },
    ]);
    const poolDefaults = {
      balance: 'roundrobin',
      retries: 3,
      queue: { timeoutMs: 5000, limit: 10000 },
      passive: { errors: 5, windowMs: 10000, ejectMs: 10000, count5xx: true },
      congestion: '',
      proxyProtocol: null,
      maxconn: 0,
    };
    expect(config.pools).toEqual([
      {
        name: 'web',
        ...poolDefaults,
        servers: [
          { address: '127.0.0.1:9001', weight: 1, maxconn: 0, proxyProtocol: null },
          { address: '127.0.0.1:9002', weight: 1, maxconn: 0, proxyProtocol: null },
        ],
      },
      { name: 'api', ...poolDefaults, servers: [{ address: '127.0.0.1:9101', weight: 1, maxconn: 0, proxyProtocol: null }] },
    ]);
    // No hash, no active checks and no server state unless the config says so (toEqual would
    // accept keys set to undefined).
    for (const pool of config.pools) {
      expect(Object.keys(pool)).not.toContain('hash');
      expect(Object.keys(pool)).not.toContain('health');
      for (const server of pool.servers) expect(Object.keys(server)).not.toContain('state');
    }
    expect(config.timeouts).toEqual({
      connectMs: 5000,
      clientMs: 30000,
      serverMs: 30000,
      httpRequestMs: 10000,
      tunnelMs: 30000,
      selectMs: 1000,
      inspectMs: 5000,
    });
    expect(config.engine).toEqual({
      threads: autoThreads(),
      cpus: [],
      pipeSize: 262144,
      maxPipes: 1024,
      spliceThreshold: 16384,
      maxHeadBytes: 16384,
      serverIdleMax: 1000,
      serverIdleMs: 30000,
      coalesceUs: 200,
      coalesceSessions: 64,
    });
    expect(config.accessLog).toEqual({ mode: 'off', sampleRate: 0, destination: 'stdout' });
    expect(config.shutdownGraceMs).toBe(10_000);
    expect(config.select).toBeUndefined();
    expect(Object.keys(config)).not.toContain('admin');
  });

  it('keeps explicit values, weights and the select hook', async () => {
    const select = () => undefined;
    const c = base();
    c['listeners'][0].backlog = 128;
    c['pools'].web = { balance: 'leastconn', retries: 0, servers: [{ address: '127.0.0.1:9001', weight: 5 }, { address: '[::1]:9002' }] };
    c['timeouts'] = { connectMs: 1, clientMs: 7000, selectMs: 86_400_000 };
    c['engine'] = { threads: 3, cpus: [0], pipeSize: 4096, maxPipes: 0, spliceThreshold: 1048576, maxHeadBytes: 8192, serverIdleMax: 0, serverIdleMs: 5, coalesceUs: 0, coalesceSessions: 1 };
    c['admin'] = { bind: '127.0.0.1:9900' };
    c['select'] = select;
    const config = await ok(c);
    expect(config.listeners[0]?.backlog).toBe(128);
    expect(config.pools[0]).toMatchObject({
      name: 'web',
      balance: 'leastconn',
      retries: 0,
      servers: [
        { address: '127.0.0.1:9001', weight: 5 },
        { address: '[::1]:9002', weight: 1 },
      ],
    });
    // tunnelMs follows clientMs unless set.
    expect(config.timeouts).toMatchObject({ connectMs: 1, clientMs: 7000, tunnelMs: 7000, selectMs: 86_400_000 });
    expect(config.engine).toEqual({ threads: 3, cpus: [0], pipeSize: 4096, maxPipes: 0, spliceThreshold: 1048576, maxHeadBytes: 8192, serverIdleMax: 0, serverIdleMs: 5, coalesceUs: 0, coalesceSessions: 1 });
    expect(config.select).toBe(select);
  });

  it('keeps pools in insertion order and accepts an unreferenced pool', async () => {
    const c = base();
    c['pools'] = { zeta: { servers: ['127.0.0.1:1'] }, alpha: { servers: ['127.0.0.1:2'] }, web: { servers: ['127.0.0.1:3'] } };
    expect((await ok(c)).pools.map((p) => p.name)).toEqual(['zeta', 'alpha', 'web']);
  });

  it('resolves the host name localhost', async () => {
    const c = base();
    c['listeners'][0].bind = 'localhost:8080';
    c['pools'].web.servers = ['localhost:9001'];
    const config = await ok(c);
    expect(['127.0.0.1:8080', '[::1]:8080']).toContain(config.listeners[0]?.bind);
    expect(['127.0.0.1:9001', '[::1]:9001']).toContain(config.pools[0]?.servers[0]?.address);
  });

  it('normalises IPv6 addresses', async () => {
    const c = base();
    c['pools'].web.servers = ['[0:0:0:0:0:0:0:1]:9001', '[FE80::0:1]:9002'];
    expect((await ok(c)).pools[0]?.servers.map((s) => s.address)).toEqual(['[::1]:9001', '[fe80::1]:9002']);
  });
});

describe('resolveConfig: listeners', () => {
  it('requires a non-empty listener list', async () => {
    expect(await only({ ...base(), listeners: [] })).toEqual({ path: 'listeners', message: expect.stringMatching(/at least one listener/) });
    const { listeners: _, ...rest } = base();
    expect(await only(rest)).toEqual({ path: 'listeners', message: expect.stringMatching(/is required/) });
  });

  it('reports an unknown pool with the pools that exist', async () => {
    const c = base();
    c['listeners'][0].pool = 'wbe';
    expect(await only(c)).toEqual({ path: 'listeners[0].pool', message: 'unknown pool "wbe" (pools are: web, api)' });
  });

  it('rejects empty and duplicate names', async () => {
    const c = base();
    c['listeners'][0].name = '';
    expect((await only(c)).path).toBe('listeners[0].name');

    const d = base();
    d['listeners'].push({ name: 'web', bind: '127.0.0.1:8081', mode: 'tcp', pool: 'api' });
    expect(await only(d)).toEqual({ path: 'listeners[1].name', message: 'duplicate listener name "web" (already used by listeners[0])' });
  });

  it('rejects an unknown mode', async () => {
    const c = base();
    c['listeners'][0].mode = 'udp';
    expect(await only(c)).toEqual({ path: 'listeners[0].mode', message: 'must be "tcp" or "http"' });
  });

  it('resolves an HTTP listener with normalized routes in order', async () => {
    const c = base();
    c['listeners'][0] = {
      name: 'web',
      bind: '127.0.0.1:8080',
      mode: 'http',
      routes: [{ host: 'API.Example.com.', path: '/v1/', pool: 'api' }, { host: '*.Example.com', pool: 'web' }, { pool: 'web' }],
    };
    const r = await ok(c);
    expect(r.listeners[0]).toEqual({
      name: 'web',
      bind: '127.0.0.1:8080',
      mode: 'http',
      backlog: 4096,
      maxconn: 0,
      congestion: '',
      acceptProxy: null,
      routes: [
        { host: 'api.example.com', path: '/v1/', pool: 'api' },
        { host: '*.example.com', path: '', pool: 'web' },
        { host: '', path: '', pool: 'web' },
      ],
    });
  });

  it('names every bad route field', async () => {
    const c = base();
    c['listeners'][0] = {
      name: 'web',
      bind: '127.0.0.1:8080',
      mode: 'http',
      routes: [{ host: 'bad host', pool: 'web' }, { path: 'v1', pool: 'web' }, { pool: 'nope' }],
    };
    expect(await issues(c)).toEqual([
      { path: 'listeners[0].routes[0].host', message: '"bad host" is not a host name or a "*.example.com" pattern' },
      { path: 'listeners[0].routes[1].path', message: 'a path prefix must start with "/", got "v1"' },
      { path: 'listeners[0].routes[2].pool', message: 'unknown pool "nope" (pools are: web, api)' },
    ]);
  });

  it('reports a bad bind address at listeners[i].bind', async () => {
    const c = base();
    c['listeners'][0].bind = '127.0.0.1:99999';
    expect(await only(c)).toEqual({
      path: 'listeners[0].bind',
      message: '"127.0.0.1:99999" is not a valid address: port must be 1–65535',
    });
  });

  it('reports a duplicate bind on the later listener', async () => {
    const c = base();
    c['listeners'].push({ name: 'other', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'api' });
    expect(await only(c)).toEqual({ path: 'listeners[1].bind', message: 'bind 127.0.0.1:8080 is already used by listeners[0] ("web")' });
  });

  it('treats wildcard binds as overlapping specific ones on the same port', async () => {
    for (const [first, second] of [
      ['0.0.0.0:8080', '127.0.0.1:8080'],
      ['127.0.0.1:8080', '0.0.0.0:8080'],
      ['[::]:8080', '127.0.0.1:8080'],
      ['[::]:8080', '0.0.0.0:8080'],
    ]) {
      const c = base();
      c['listeners'] = [
        { name: 'a', bind: first, mode: 'tcp', pool: 'web' },
        { name: 'b', bind: second, mode: 'tcp', pool: 'web' },
      ];
      const issue = await only(c);
      expect(issue.path).toBe('listeners[1].bind');
      expect(issue.message).toMatch(/conflicts with listeners\[0\] \("a"\)/);
    }
  });

  it('allows distinct binds', async () => {
    const c = base();
    c['listeners'] = [
      { name: 'a', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web' },
      { name: 'b', bind: '127.0.0.2:8080', mode: 'tcp', pool: 'web' },
      { name: 'c', bind: '127.0.0.1:8081', mode: 'tcp', pool: 'web' },
      { name: 'd', bind: '[::1]:8080', mode: 'tcp', pool: 'web' },
    ];
    expect((await ok(c)).listeners).toHaveLength(4);
  });

  it('compares binds after resolution', async () => {
    const c = base();
    c['listeners'].push({ name: 'b', bind: 'db.internal:8080', mode: 'tcp', pool: 'web' });
    const issue = await only(c, { lookup: async () => '127.0.0.1' });
    expect(issue).toEqual({
      path: 'listeners[1].bind',
      message: 'bind db.internal:8080 (127.0.0.1:8080) is already used by listeners[0] ("web")',
    });
  });

  it('checks backlog range', async () => {
    for (const backlog of [0, 65536, 1.5, '10']) {
      const c = base();
      c['listeners'][0].backlog = backlog;
      expect((await only(c)).path).toBe('listeners[0].backlog');
    }
  });

  it('rejects unknown keys and suggests the intended one', async () => {
    const c = base();
    c['listeners'][0].bnid = 'x';
    expect(await only(c)).toEqual({ path: 'listeners[0].bnid', message: 'unknown key "bnid" (did you mean "bind"?)' });
    const d = base();
    d['listners'] = [];
    expect(await only(d)).toEqual({ path: 'listners', message: 'unknown key "listners" (did you mean "listeners"?)' });
  });

  it('rejects a TCP listener without a pool', async () => {
    const c = base();
    delete c['listeners'][0].pool;
    expect((await only(c)).path).toBe('listeners[0].pool');
  });
});

describe('resolveConfig: pools and servers', () => {
  it('requires at least one pool', async () => {
    const c = base();
    c['pools'] = {};
    const all = await issues(c);
    expect(all.map((i) => i.path)).toEqual(['listeners[0].pool', 'pools']);
    expect(all[0]?.message).toBe('unknown pool "web" (no pools are defined)');
  });

  it('checks pool names', async () => {
    const c = base();
    c['pools']['bad name'] = { servers: ['127.0.0.1:1'] };
    expect(await only(c)).toEqual({ path: 'pools["bad name"]', message: 'pool name "bad name" may only contain letters, digits, "_", "." and "-"' });
    const d = base();
    d['pools']['a-b.c_1'] = { servers: ['127.0.0.1:1'] };
    await ok(d);
  });


  it('requires a non-empty server list', async () => {
    const c = base();
    c['pools'].web.servers = [];
    expect(await only(c)).toEqual({ path: 'pools.web.servers', message: 'must list at least one server' });
    const d = base();
    delete d['pools'].web.servers;
    expect((await only(d)).path).toBe('pools.web.servers');
  });

  it('reports a bad server address at its index', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['127.0.0.1:99999', /port must be 1–65535/],
      ['127.0.0.1:0', /port must be 1–65535/],
      ['127.0.0.1:80x', /port "80x" is not a number/],
      ['127.0.0.1', /missing ":port"/],
      ['300.1.1.1:80', /"300.1.1.1" is not an IPv4 address/],
      ['::1:80', /must be in brackets/],
      ['[::g]:80', /is not an IPv6 address/],
      ['bad_host!:80', /not a valid host name/],
      [42, /must be "host:port" or \{ address/],
      [{ address: '127.0.0.1:99999', weight: 2 }, /port must be 1–65535/],
    ];
    for (const [server, message] of cases) {
      const c = base();
      c['pools'].web.servers = ['127.0.0.1:9001', server];
      const issue = await only(c);
      expect(issue.path, String(server)).toBe('pools.web.servers[1]');
      expect(issue.message).toMatch(message);
    }
  });

  it('checks weight range at servers[i].weight', async () => {
    for (const weight of [0, 257, 1.5, -1, '2']) {
      const c = base();
      c['pools'].web.servers = ['127.0.0.1:9001', { address: '127.0.0.1:9002', weight }];
      const issue = await only(c);
      expect(issue.path).toBe('pools.web.servers[1].weight');
      expect(issue.message).toMatch(/must be a whole number from 1 to 256/);
    }
  });

  it('rejects duplicate servers, also after normalisation', async () => {
    const c = base();
    c['pools'].web.servers = ['127.0.0.1:9001', { address: '127.0.0.1:9001', weight: 3 }];
    expect(await only(c)).toEqual({ path: 'pools.web.servers[1]', message: 'duplicate server 127.0.0.1:9001: already listed as servers[0]' });
    const d = base();
    d['pools'].web.servers = ['[::1]:9001', '[0::1]:9001'];
    expect((await only(d)).path).toBe('pools.web.servers[1]');
    // The same address in two pools is fine.
    const e = base();
    e['pools'].api.servers = ['127.0.0.1:9001'];
    await ok(e);
  });

  it('checks retries', async () => {
    for (const retries of [-1, 101, 2.5]) {
      const c = base();
      c['pools'].web.retries = retries;
      expect((await only(c)).path).toBe('pools.web.retries');
    }
    const c = base();
    c['pools'].web.retries = 100;
    expect((await ok(c)).pools[0]?.retries).toBe(100);
  });

  it('rejects unknown pool keys with a suggestion', async () => {
    const c = base();
    c['pools'].web.balnce = 'leastconn';
    expect(await only(c)).toEqual({ path: 'pools.web.balnce', message: 'unknown key "balnce" (did you mean "balance"?)' });
  });

  it('reports a host that does not resolve', async () => {
    const c = base();
    c['pools'].web.servers = ['127.0.0.1:9001', 'db.internal:5432'];
    const lookup = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    expect(await only(c, { lookup })).toEqual({ path: 'pools.web.servers[1]', message: 'cannot resolve host "db.internal": ENOTFOUND' });
  });

  it('reports a real lookup failure with its code', async () => {
    const c = base();
    c['pools'].web.servers = ['no-such-host.invalid:80'];
    const issue = await only(c);
    expect(issue.path).toBe('pools.web.servers[0]');
    expect(issue.message).toMatch(/^cannot resolve host "no-such-host\.invalid": [A-Z_]+$/);
  });

  it('looks each host name up once', async () => {
    const c = base();
    c['listeners'][0].bind = 'front:8080';
    c['pools'].web.servers = ['back:9001', 'back:9002'];
    c['pools'].api.servers = ['back:9003'];
    const seen: string[] = [];
    const config = await ok(c, {
      lookup: async (host) => {
        seen.push(host);
        return host === 'front' ? '127.0.0.1' : '10.0.0.2';
      },
    });
    expect(seen.sort()).toEqual(['back', 'front']);
    expect(config.pools[1]?.servers[0]?.address).toBe('10.0.0.2:9003');
  });
});

describe('resolveConfig: balancing', () => {
  it('resolves the named balancers without a hash', async () => {
    for (const balance of ['roundrobin', 'leastconn', 'p2c'] as const) {
      const c = base();
      c['pools'].web.balance = balance;
      const pool = (await ok(c)).pools[0]!;
      expect(pool.balance).toBe(balance);
      expect(pool).not.toHaveProperty('hash');
    }
  });

  it('resolves hash balancers, a header name in lowercase', async () => {
    for (const key of ['host', 'path', 'client'] as const) {
      const c = base();
      c['pools'].web.balance = { hash: key };
      expect((await ok(c)).pools[0]).toMatchObject({ balance: 'hash', hash: { key, header: '' } });
    }
    const c = base();
    c['pools'].web.balance = { hash: 'header', header: 'X-Tenant-ID' };
    expect((await ok(c)).pools[0]).toMatchObject({ balance: 'hash', hash: { key: 'header', header: 'x-tenant-id' } });
  });

  it('lists every allowed form for an unknown balance', async () => {
    const forms = '"roundrobin", "leastconn", "p2c", { hash: "host" | "path" | "client" } or { hash: "header", header: "x-name" }';
    for (const [balance, got] of [['random', 'string "random"'], [42, 'number 42'], [null, 'null'], [['p2c'], 'an array']] as const) {
      const c = base();
      c['pools'].web.balance = balance;
      expect(await only(c)).toEqual({ path: 'pools.web.balance', message: `must be ${forms}, got ${got}` });
    }
  });

  it('checks the hash key at balance.hash', async () => {
    const c = base();
    c['pools'].web.balance = { hash: 'cookie' };
    expect(await only(c)).toEqual({
      path: 'pools.web.balance.hash',
      message: 'must be "host", "path", "client" or "header", got string "cookie"',
    });
    const d = base();
    d['pools'].web.balance = { header: 'x-tenant' };
    expect(await only(d)).toEqual({ path: 'pools.web.balance.hash', message: 'is required ("host", "path", "client" or "header")' });
    // An unknown key does not hide the bad hash (nor turn it into "must be roundrobin, ...").
    const e = base();
    e['pools'].web.balance = { hash: 'cookie', key: 'sid' };
    expect((await issues(e)).map((i) => i.path)).toEqual(['pools.web.balance.hash', 'pools.web.balance.key']);
  });

  it('requires header with hash "header" and only there', async () => {
    const c = base();
    c['pools'].web.balance = { hash: 'header' };
    expect(await only(c)).toEqual({
      path: 'pools.web.balance.header',
      message: 'is required with hash "header" (the request header to hash, like "x-tenant")',
    });
    const d = base();
    d['pools'].web.balance = { hash: 'client', header: 'x-tenant' };
    expect(await only(d)).toEqual({ path: 'pools.web.balance.header', message: 'is only used with hash "header", not with hash "client"' });
  });

  it('requires header to be an HTTP token', async () => {
    for (const header of ['', 'x tenant', 'x-tenant:', 'tenant\n', 'clé']) {
      const c = base();
      c['pools'].web.balance = { hash: 'header', header };
      const issue = await only(c);
      expect(issue.path).toBe('pools.web.balance.header');
      expect(issue.message).toBe(`must be a header name (letters, digits and !#$%&'*+-.^_\`|~), got string ${JSON.stringify(header)}`);
    }
    const c = base();
    c['pools'].web.balance = { hash: 'header', header: 5 };
    expect(await only(c)).toEqual({ path: 'pools.web.balance.header', message: 'must be a header name string like "x-tenant", got number 5' });
    const d = base();
    d['pools'].web.balance = { hash: 'header', header: "X_Odd!#$%&'*+-.^_`|~9" };
    expect((await ok(d)).pools[0]?.hash?.header).toBe("x_odd!#$%&'*+-.^_`|~9");
  });

  it('reports an unknown key in the balance object next to a missing header', async () => {
    const c = base();
    c['pools'].web.balance = { hash: 'header', heder: 'x-tenant' };
    expect(await issues(c)).toEqual([
      { path: 'pools.web.balance.heder', message: 'unknown key "heder" (did you mean "header"?)' },
      { path: 'pools.web.balance.header', message: 'is required with hash "header" (the request header to hash, like "x-tenant")' },
    ]);
  });
});

describe('resolveConfig: maxconn, server state and queue', () => {
  it('gives servers the pool maxconn unless they set their own', async () => {
    const c = base();
    c['pools'].web = {
      maxconn: 100,
      servers: ['127.0.0.1:9001', { address: '127.0.0.1:9002', maxconn: 0 }, { address: '127.0.0.1:9003', maxconn: 7 }],
    };
    expect((await ok(c)).pools[0]?.servers.map((s) => s.maxconn)).toEqual([100, 0, 7]);
  });

  it('resolves a server state only when the config gives one', async () => {
    const c = base();
    c['pools'].web.servers = [
      { address: '127.0.0.1:9001', state: 'ready' },
      { address: '127.0.0.1:9002', state: 'drain' },
      { address: '127.0.0.1:9003', state: 'maint' },
      { address: '127.0.0.1:9004' },
    ];
    const servers = (await ok(c)).pools[0]!.servers;
    expect(servers.map((s) => s.state)).toEqual(['ready', 'drain', 'maint', undefined]);
    expect(servers[3]).not.toHaveProperty('state');
  });

  it('rejects an unknown server state', async () => {
    const c = base();
    c['pools'].web.servers = ['127.0.0.1:9001', { address: '127.0.0.1:9002', state: 'draining' }];
    expect(await only(c)).toEqual({ path: 'pools.web.servers[1].state', message: 'must be "ready", "drain" or "maint", got string "draining"' });
  });

  it('checks every maxconn range at its own path', async () => {
    const at: Array<[string, (c: Record<string, any>, v: unknown) => void]> = [
      ['listeners[0].maxconn', (c, v) => (c['listeners'][0].maxconn = v)],
      ['pools.web.maxconn', (c, v) => (c['pools'].web.maxconn = v)],
      ['pools.web.servers[1].maxconn', (c, v) => (c['pools'].web.servers[1] = { address: '127.0.0.1:9002', maxconn: v })],
    ];
    for (const [path, set] of at) {
      for (const value of [-1, 1_000_001, 2.5, '10']) {
        const c = base();
        set(c, value);
        const issue = await only(c);
        expect(issue.path).toBe(path);
        expect(issue.message).toMatch(/^must be a whole number from 0 to 1000000/);
      }
      for (const value of [0, 1_000_000]) {
        const c = base();
        set(c, value);
        await ok(c);
      }
    }
  });

  it('resolves listener maxconn on both kinds of listener', async () => {
    const c = base();
    c['listeners'] = [
      { name: 'tcp', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web', maxconn: 5000 },
      { name: 'http', bind: '127.0.0.1:8081', mode: 'http', routes: [{ pool: 'web' }], maxconn: 1 },
    ];
    expect((await ok(c)).listeners.map((l) => l.maxconn)).toEqual([5000, 1]);
  });

  it('resolves the queue, filling what it leaves out', async () => {
    const c = base();
    c['pools'].web.queue = { timeoutMs: 86_400_000, limit: 0 };
    c['pools'].api.queue = { limit: 3 };
    const pools = (await ok(c)).pools;
    expect(pools[0]?.queue).toEqual({ timeoutMs: 86_400_000, limit: 0 });
    expect(pools[1]?.queue).toEqual({ timeoutMs: 5000, limit: 3 });
  });

  it('checks queue fields', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ timeoutMs: 0 }, 'timeoutMs', /milliseconds from 1 to 86400000, got number 0/],
      [{ timeoutMs: 86_400_001 }, 'timeoutMs', /milliseconds from 1 to 86400000/],
      [{ limit: -1 }, 'limit', /whole number from 0 to 1000000/],
      [{ limit: 1_000_001 }, 'limit', /whole number from 0 to 1000000/],
      [{ limt: 5 }, 'limt', /unknown key "limt" \(did you mean "limit"\?\)/],
    ];
    for (const [queue, key, message] of cases) {
      const c = base();
      c['pools'].web.queue = queue;
      const issue = await only(c);
      expect(issue.path).toBe(`pools.web.queue.${key}`);
      expect(issue.message).toMatch(message);
    }
    const c = base();
    c['pools'].web.queue = 5000;
    expect(await only(c)).toEqual({
      path: 'pools.web.queue',
      message: 'must be an object like { timeoutMs: 5000, limit: 10000 }, got number 5000',
    });
  });
});

describe('resolveConfig: active health checks', () => {
  async function health(h: unknown) {
    const c = base();
    c['pools'].web.health = h;
    return (await ok(c)).pools[0]?.health;
  }

  async function healthIssues(h: unknown): Promise<ConfigIssue[]> {
    const c = base();
    c['pools'].web.health = h;
    return issues(c);
  }

  it('is off unless configured, and a TCP connect check by default', async () => {
    expect((await ok(base())).pools[0]).not.toHaveProperty('health');
    expect(await health({})).toEqual({
      type: 'tcp',
      path: '/',
      host: '',
      expectStatus: [],
      intervalMs: 2000,
      timeoutMs: 1000,
      rise: 2,
      fall: 3,
    });
  });

  it('is an HTTP check when it has a path or says so', async () => {
    expect(await health({ path: '/healthz' })).toMatchObject({ type: 'http', path: '/healthz' });
    expect(await health({ type: 'http' })).toMatchObject({ type: 'http', path: '/', host: '', expectStatus: [] });
    expect(await health({ type: 'tcp' })).toMatchObject({ type: 'tcp' });
  });

  it('keeps explicit values and makes expectStatus a list', async () => {
    const h = { type: 'http', path: '/ready?full=1', host: 'app.example.com:8443', expectStatus: 204, intervalMs: 86_400_000, timeoutMs: 86_400_000, rise: 1, fall: 100 };
    expect(await health(h)).toEqual({ ...h, expectStatus: [204] });
    expect((await health({ path: '/', expectStatus: [200, 204, 599, 100] }))?.expectStatus).toEqual([200, 204, 599, 100]);
  });

  it('defaults timeoutMs to at most intervalMs', async () => {
    expect(await health({ intervalMs: 100 })).toMatchObject({ intervalMs: 100, timeoutMs: 100 });
    expect(await health({ intervalMs: 5000 })).toMatchObject({ intervalMs: 5000, timeoutMs: 1000 });
    expect(await health({ intervalMs: 500, timeoutMs: 500 })).toMatchObject({ intervalMs: 500, timeoutMs: 500 });
  });

  it('rejects a timeoutMs over intervalMs at timeoutMs', async () => {
    expect(await healthIssues({ intervalMs: 500, timeoutMs: 600 })).toEqual([
      { path: 'pools.web.health.timeoutMs', message: 'must be at most intervalMs (500), got 600' },
    ]);
    expect(await healthIssues({ timeoutMs: 2001 })).toEqual([
      { path: 'pools.web.health.timeoutMs', message: 'must be at most intervalMs (2000 by default), got 2001' },
    ]);
    // A malformed intervalMs is reported alone, not compared with the default.
    expect((await healthIssues({ intervalMs: 50, timeoutMs: 1500 })).map((i) => i.path)).toEqual(['pools.web.health.intervalMs']);
  });

  it('rejects HTTP-only fields on a TCP check, each at its path', async () => {
    expect(await healthIssues({ type: 'tcp', path: '/healthz', host: 'example.com', expectStatus: 200 })).toEqual(
      ['path', 'host', 'expectStatus'].map((key) => ({
        path: `pools.web.health.${key}`,
        message: 'is only used by http checks, but this check has type "tcp"',
      })),
    );
    // Without a path and a type the check is a TCP one, so say how to make it HTTP.
    expect(await healthIssues({ expectStatus: [200] })).toEqual([
      {
        path: 'pools.web.health.expectStatus',
        message: 'is only used by http checks, and without a path this check is "tcp" (add type: "http")',
      },
    ]);
    expect(await health({ type: 'http', host: 'example.com', expectStatus: [200] })).toMatchObject({ type: 'http', path: '/' });
  });

  it('checks the path', async () => {
    for (const path of ['healthz', '', '/a b', '/a\tb', '/\x7f']) {
      expect(await healthIssues({ path }), JSON.stringify(path)).toEqual([
        {
          path: 'pools.web.health.path',
          message: `must start with "/" and have no spaces or control characters, got string ${JSON.stringify(path)}`,
        },
      ]);
    }
    expect((await healthIssues({ path: 5 }))[0]).toEqual({ path: 'pools.web.health.path', message: 'must be a path string like "/healthz", got number 5' });
  });

  it('checks the host', async () => {
    for (const host of ['example.com', 'EXAMPLE.com', '10.0.0.1', '10.0.0.1:8080', '[::1]', '[::1]:8080', 'app.internal:80']) {
      expect((await health({ type: 'http', host }))?.host).toBe(host);
    }
    for (const host of ['', 'bad host', 'example.com:', 'example.com:http', '::1', 'a\r\nX-Evil: 1', ' example.com']) {
      expect(await healthIssues({ type: 'http', host }), JSON.stringify(host)).toEqual([
        { path: 'pools.web.health.host', message: `must be a host name or host:port, got string ${JSON.stringify(host)}` },
      ]);
    }
  });

  it('checks expectStatus: one status or a non-empty list of them', async () => {
    const cases: Array<[unknown, string, string]> = [
      [99, 'expectStatus', 'must be a whole number from 100 to 599, got number 99'],
      [600, 'expectStatus', 'must be a whole number from 100 to 599, got number 600'],
      [200.5, 'expectStatus', 'must be a status code from 100 to 599 or a list of them, got number 200.5'],
      ['200', 'expectStatus', 'must be a status code from 100 to 599 or a list of them, got string "200"'],
      [[], 'expectStatus', 'must list at least one status'],
      [[200, 700], 'expectStatus[1]', 'must be a whole number from 100 to 599, got number 700'],
      [[200, '204'], 'expectStatus[1]', 'must be a whole number from 100 to 599, got string "204"'],
    ];
    for (const [expectStatus, key, message] of cases) {
      expect(await healthIssues({ path: '/', expectStatus }), JSON.stringify(expectStatus)).toEqual([
        { path: `pools.web.health.${key}`, message },
      ]);
    }
  });

  it('checks the ranges of type, intervalMs, timeoutMs, rise and fall', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ type: 'udp' }, 'type', 'must be "tcp" or "http", got string "udp"'],
      [{ intervalMs: 99 }, 'intervalMs', 'must be a whole number of milliseconds from 100 to 86400000, got number 99'],
      [{ intervalMs: 86_400_001 }, 'intervalMs', 'must be a whole number of milliseconds from 100 to 86400000, got number 86400001'],
      [{ timeoutMs: 0 }, 'timeoutMs', 'must be a whole number of milliseconds from 1 to 86400000, got number 0'],
      [{ rise: 0 }, 'rise', 'must be a whole number from 1 to 100, got number 0'],
      [{ rise: 101 }, 'rise', 'must be a whole number from 1 to 100, got number 101'],
      [{ fall: 0 }, 'fall', 'must be a whole number from 1 to 100, got number 0'],
      [{ fall: 1.5 }, 'fall', 'must be a whole number from 1 to 100, got number 1.5'],
      [{ timeout: 100 }, 'timeout', 'unknown key "timeout" (did you mean "timeoutMs"?)'],
    ];
    for (const [h, key, message] of cases) {
      expect(await healthIssues(h), JSON.stringify(h)).toEqual([{ path: `pools.web.health.${key}`, message }]);
    }
    expect(await healthIssues(true)).toEqual([
      { path: 'pools.web.health', message: 'must be an object like { path: "/healthz" } or { type: "tcp" }, got boolean true' },
    ]);
  });

  it('still checks the path next to a malformed type', async () => {
    expect((await healthIssues({ type: 'udp', path: 'x' })).map((i) => i.path)).toEqual([
      'pools.web.health.type',
      'pools.web.health.path',
    ]);
  });
});

describe('resolveConfig: passive health', () => {
  async function passive(p: unknown) {
    const c = base();
    c['pools'].web.passive = p;
    return (await ok(c)).pools[0]?.passive;
  }

  it('is on with the defaults, off with false, and fills what an object leaves out', async () => {
    const defaults = { errors: 5, windowMs: 10000, ejectMs: 10000, count5xx: true };
    expect((await ok(base())).pools[0]?.passive).toEqual(defaults);
    expect(await passive({})).toEqual(defaults);
    expect(await passive(false)).toBeNull();
    expect(await passive({ errors: 1, count5xx: false })).toEqual({ ...defaults, errors: 1, count5xx: false });
    const all = { errors: 1000, windowMs: 86_400_000, ejectMs: 1, count5xx: true };
    expect(await passive(all)).toEqual(all);
  });

  it('checks every field', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ errors: 0 }, 'errors', /whole number from 1 to 1000, got number 0/],
      [{ errors: 1001 }, 'errors', /whole number from 1 to 1000/],
      [{ windowMs: 0 }, 'windowMs', /milliseconds from 1 to 86400000/],
      [{ windowMs: 86_400_001 }, 'windowMs', /milliseconds from 1 to 86400000/],
      [{ ejectMs: 0 }, 'ejectMs', /milliseconds from 1 to 86400000/],
      [{ ejectMs: 2.5 }, 'ejectMs', /milliseconds from 1 to 86400000/],
      [{ count5xx: 'yes' }, 'count5xx', /^must be true or false, got string "yes"$/],
      [{ error: 3 }, 'error', /^unknown key "error" \(did you mean "errors"\?\)$/],
    ];
    for (const [p, key, message] of cases) {
      const c = base();
      c['pools'].web.passive = p;
      const issue = await only(c);
      expect(issue.path, JSON.stringify(p)).toBe(`pools.web.passive.${key}`);
      expect(issue.message).toMatch(message);
    }
  });

  it('accepts only false or an object', async () => {
    for (const [p, got] of [[true, 'boolean true'], [0, 'number 0'], ['off', 'string "off"']] as const) {
      const c = base();
      c['pools'].web.passive = p;
      expect(await only(c)).toEqual({
        path: 'pools.web.passive',
        message: `must be false (off) or an object like { errors: 5, windowMs: 10000 }, got ${got}`,
      });
    }
  });
});

describe('resolveConfig: timeouts, select, admin, engine', () => {
  it('checks every timeout', async () => {
    for (const key of ['connectMs', 'clientMs', 'serverMs', 'httpRequestMs', 'tunnelMs', 'selectMs']) {
      for (const value of [0, -5, 1.5, 86_400_001, '100']) {
        const c = base();
        c['timeouts'] = { [key]: value };
        const issue = await only(c);
        expect(issue.path).toBe(`timeouts.${key}`);
        expect(issue.message).toMatch(/milliseconds from 1 to 86400000/);
      }
    }
    const c = base();
    c['timeouts'] = { conectMs: 5 };
    expect(await only(c)).toEqual({ path: 'timeouts.conectMs', message: 'unknown key "conectMs" (did you mean "connectMs"?)' });
  });

  it('requires select to be a function', async () => {
    const c = base();
    c['select'] = 'api';
    expect(await only(c)).toEqual({ path: 'select', message: 'must be a function, got string "api"' });
  });

  it('validates the admin bind and keeps it off the listeners', async () => {
    const c = base();
    c['admin'] = { bind: 'nowhere' };
    expect((await only(c)).path).toBe('admin.bind');
    const d = base();
    d['admin'] = { bind: '127.0.0.1:8080' };
    expect(await only(d)).toEqual({ path: 'admin.bind', message: 'bind 127.0.0.1:8080 is already used by listeners[0] ("web")' });
  });

  it('resolves the admin server: bind normalized, token kept, off when omitted', async () => {
    expect(await ok(base())).not.toHaveProperty('admin');
    const c = base();
    c['admin'] = { bind: '127.0.0.1:9900' };
    expect((await ok(c)).admin).toEqual({ bind: '127.0.0.1:9900', latencyWindowMs: 60_000 });
    expect(Object.keys((await ok(c)).admin!)).not.toContain('token');
    const d = base();
    d['admin'] = { bind: '[0:0::1]:9900', token: 'a'.repeat(16), latencyWindowMs: 300_000 };
    expect((await ok(d)).admin).toEqual({ bind: '[::1]:9900', token: 'a'.repeat(16), latencyWindowMs: 300_000 });
    for (const latencyWindowMs of [999, 3_600_001, 1.5, '60000']) {
      const f = base();
      f['admin'] = { bind: '127.0.0.1:9900', latencyWindowMs };
      expect(await only(f), String(latencyWindowMs)).toEqual({
        path: 'admin.latencyWindowMs',
        message: expect.stringMatching(/^must be a whole number of milliseconds from 1000 to 3600000, got /),
      });
    }
    const e = base();
    e['admin'] = { bind: 'localhost:9900' };
    expect(['127.0.0.1:9900', '[::1]:9900']).toContain((await ok(e)).admin?.bind);
  });

  it('needs an admin token off loopback, at admin.token, and says why', async () => {
    for (const bind of ['127.0.0.1:9900', '127.1.2.3:9900', '[::1]:9900', '[::ffff:127.0.0.1]:9900']) {
      const c = base();
      c['admin'] = { bind };
      expect((await ok(c)).admin?.bind, bind).toBeDefined();
    }
    for (const bind of ['0.0.0.0:9900', '10.0.0.1:9900', '[::]:9900', '[::ffff:10.0.0.1]:9900']) {
      const c = base();
      c['admin'] = { bind };
      const issue = await only(c);
      expect(issue.path, bind).toBe('admin.token');
      expect(issue.message).toMatch(/^is required because admin.bind .+ is not a loopback address: anyone who can reach it could drain servers/);
      c['admin'].token = 'Zq8-vP2_mK4.rT6~';
      expect((await ok(c)).admin?.token).toBe('Zq8-vP2_mK4.rT6~');
    }
    const c = base();
    c['admin'] = { bind: 'example.invalid:9900' };
    const lookup = async () => '192.0.2.7';
    expect((await only(c, { lookup })).message).toMatch(/admin.bind example.invalid:9900 \(192.0.2.7:9900\) is not a loopback address/);
  });

  it('checks the admin token without quoting it', async () => {
    const cases: Array<[unknown, string]> = [
      ['', 'must not be empty (leave token out to have none)'],
      ['short-secret', 'must be at least 16 characters long, got 12: a short token is easy to guess'],
      ['has a space in the middle', 'must hold only visible ASCII characters (no spaces, control or non-ASCII characters)'],
      ['tab\tin-the-secret-value', 'must hold only visible ASCII characters (no spaces, control or non-ASCII characters)'],
      ['ünicode-secret-value-1', 'must hold only visible ASCII characters (no spaces, control or non-ASCII characters)'],
      [1234567890123456, 'must be a string of at least 16 visible ASCII characters, got number'],
    ];
    for (const [token, message] of cases) {
      const c = base();
      c['admin'] = { bind: '127.0.0.1:9900', token };
      expect(await only(c), JSON.stringify(token)).toEqual({ path: 'admin.token', message });
    }
    // A malformed token is one problem, not also "required" off loopback.
    const c = base();
    c['admin'] = { bind: '0.0.0.0:9900', token: 'short' };
    expect((await only(c)).path).toBe('admin.token');
    const d = base();
    d['admin'] = { bind: '127.0.0.1:9900', tokn: 'x'.repeat(16) };
    expect(await only(d)).toEqual({ path: 'admin.tokn', message: 'unknown key "tokn" (did you mean "token"?)' });
  });

  it('checks engine ranges', async () => {
    const cases: Array<[string, number]> = [
      ['pipeSize', 4095],
      ['pipeSize', 1048577],
      ['maxPipes', -1],
      ['maxPipes', 65537],
      ['spliceThreshold', 1023],
      ['spliceThreshold', 1048577],
      ['coalesceUs', -1],
      ['coalesceUs', 10_001],
      ['coalesceUs', 1.5],
      ['coalesceSessions', 0],
    ];
    for (const [key, value] of cases) {
      const c = base();
      c['engine'] = { [key]: value };
      expect((await only(c)).path).toBe(`engine.${key}`);
    }
  });

  it('takes engine.threads as "auto" or 1–64, and engine.cpus only from the affinity mask', async () => {
    const withEngine = (engine: unknown) => ({ ...base(), engine });
    for (const threads of [0, 65, 1.5, 'many', '2']) {
      const issue = await only(withEngine({ threads }));
      expect(issue.path).toBe('engine.threads');
      expect(issue.message).toMatch(new RegExp(`^must be "auto" or a whole number from 1 to 64, got .*${String(threads).replace('.', '\\.')}`));
    }
    expect((await ok(withEngine({ threads: 'auto' }))).engine.threads).toBe(autoThreads());
    expect((await ok(withEngine({ threads: 64 }))).engine.threads).toBe(64);
    expect(await only(withEngine({ cpus: [] }))).toEqual({ path: 'engine.cpus', message: 'must list at least one CPU (or leave cpus out)' });
    expect((await only(withEngine({ cpus: [0, -1] }))).path).toBe('engine.cpus[1]');
    const allowed = [...(allowedCpus() ?? [])];
    expect(allowed.length).toBeGreaterThan(0);
    expect((await ok(withEngine({ cpus: allowed }))).engine.cpus).toEqual(allowed);
    expect(await only(withEngine({ cpus: [4000] }))).toEqual({
      path: 'engine.cpus[0]',
      message: `CPU 4000 is not one this process may run on (${allowed.sort((a, b) => a - b).join(', ')})`,
    });
  });

  it('reads "auto" from EPOXY_THREADS, else the CPUs this process may use, and the affinity list from /proc', () => {
    expect(autoThreads({ EPOXY_THREADS: '3' })).toBe(3);
    expect(autoThreads({ EPOXY_THREADS: '0' })).toBe(Math.min(availableParallelism(), 64));
    expect(autoThreads({})).toBe(Math.min(availableParallelism(), 64));
    expect(allowedCpus('Name:\tnode\nCpus_allowed_list:\t0-2,5,7-8\n')).toEqual(new Set([0, 1, 2, 5, 7, 8]));
    expect(allowedCpus('Name:\tnode\n')).toBeUndefined();
  });
});

describe('resolveConfig: access log', () => {
  const withAccessLog = (accessLog: unknown) => ({ ...base(), accessLog });
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-config-'));

  it('is off by default and with false; true is every request to stdout', async () => {
    expect((await ok(withAccessLog(false))).accessLog).toEqual({ mode: 'off', sampleRate: 0, destination: 'stdout' });
    expect((await ok(withAccessLog(true))).accessLog).toEqual({ mode: 'full', sampleRate: 1, destination: 'stdout' });
  });

  it('resolves the object form: full by default, sampled at 0.01 unless a rate is given', async () => {
    expect((await ok(withAccessLog({}))).accessLog).toEqual({ mode: 'full', sampleRate: 1, destination: 'stdout' });
    expect((await ok(withAccessLog({ mode: 'sampled' }))).accessLog).toMatchObject({ mode: 'sampled', sampleRate: 0.01 });
    expect((await ok(withAccessLog({ mode: 'sampled', sampleRate: 1 }))).accessLog).toMatchObject({ sampleRate: 1 });
    expect((await ok(withAccessLog({ mode: 'off', destination: 'stdout' }))).accessLog).toEqual({
      mode: 'off',
      sampleRate: 0,
      destination: 'stdout',
    });
  });

  it('resolves a file destination to an absolute path, relative ones from the working directory', async () => {
    const file = join(dir, 'access.log');
    expect((await ok(withAccessLog({ destination: file }))).accessLog.destination).toBe(file);
    const relative = relativePath(process.cwd(), join(dir, 'relative.log'));
    expect((await ok(withAccessLog({ destination: relative }))).accessLog.destination).toBe(join(dir, 'relative.log'));
    // An existing file is appended to.
    writeFileSync(join(dir, 'existing.log'), 'old line\n');
    expect((await ok(withAccessLog({ destination: join(dir, 'existing.log') }))).accessLog.destination).toBe(join(dir, 'existing.log'));
  });

  it('checks mode and sampleRate at their paths', async () => {
    expect(await only(withAccessLog({ mode: 'some' }))).toEqual({
      path: 'accessLog.mode',
      message: 'must be "off", "sampled" or "full", got string "some"',
    });
    for (const rate of [0, -0.5, 1.01, '0.1', Number.NaN]) {
      const issue = await only(withAccessLog({ mode: 'sampled', sampleRate: rate }));
      expect(issue.path).toBe('accessLog.sampleRate');
      expect(issue.message).toMatch(/^must be a number above 0 and at most 1, got /);
    }
  });

  it('rejects a sampleRate with any mode but sampled, saying which mode applies', async () => {
    expect(await only(withAccessLog({ mode: 'full', sampleRate: 0.5 }))).toEqual({
      path: 'accessLog.sampleRate',
      message: 'is only used with mode "sampled", but the mode is "full"',
    });
    expect(await only(withAccessLog({ mode: 'off', sampleRate: 0.5 }))).toMatchObject({ path: 'accessLog.sampleRate' });
    expect(await only(withAccessLog({ sampleRate: 0.5 }))).toEqual({
      path: 'accessLog.sampleRate',
      message: 'is only used with mode "sampled", but the mode is "full" by default (add mode: "sampled")',
    });
  });

  it('checks the destination: an existing, writable directory, and not a directory itself', async () => {
    expect(await only(withAccessLog({ destination: join(dir, 'missing', 'access.log') }))).toEqual({
      path: 'accessLog.destination',
      message: `directory ${join(dir, 'missing')} does not exist`,
    });
    expect(await only(withAccessLog({ destination: dir }))).toEqual({
      path: 'accessLog.destination',
      message: `${dir} is a directory; give a file path or "stdout"`,
    });
    writeFileSync(join(dir, 'plain'), '');
    expect(await only(withAccessLog({ destination: join(dir, 'plain', 'access.log') }))).toEqual({
      path: 'accessLog.destination',
      message: `${join(dir, 'plain')} is not a directory`,
    });
    expect(await only(withAccessLog({ destination: '' }))).toMatchObject({ path: 'accessLog.destination' });
  });

  it('rejects a directory it may not write to', async () => {
    const locked = mkdtempSync(join(tmpdir(), 'epoxy-locked-'));
    chmodSync(locked, 0o555);
    const config = withAccessLog({ destination: join(locked, 'access.log') });
    // root writes anywhere, so as root the check runs in a child process as nobody.
    const found = process.getuid?.() === 0 ? await issuesAsNobody(config) : await issues(config);
    expect(found).toEqual([{ path: 'accessLog.destination', message: `cannot create ${join(locked, 'access.log')} in ${locked} (EACCES)` }]);
  });

  it('rejects unknown keys and values of the wrong type', async () => {
    expect(await only(withAccessLog({ mdoe: 'full' }))).toEqual({
      path: 'accessLog.mdoe',
      message: 'unknown key "mdoe" (did you mean "mode"?)',
    });
    expect((await only(withAccessLog('full'))).message).toMatch(/^must be true, false or an object like/);
  });
});

describe('resolveConfig: shutdownGraceMs', () => {
  it('keeps a value from 0 to 3600000', async () => {
    for (const value of [0, 1, 3_600_000]) expect((await ok({ ...base(), shutdownGraceMs: value })).shutdownGraceMs).toBe(value);
  });

  it('rejects anything else at its path', async () => {
    for (const value of [-1, 3_600_001, 1.5, '10']) {
      const issue = await only({ ...base(), shutdownGraceMs: value });
      expect(issue.path).toBe('shutdownGraceMs');
      expect(issue.message).toMatch(/^must be a whole number of milliseconds from 0 to 3600000, got /);
    }
  });
});

describe('resolveConfig: reporting', () => {
  it('rejects a value that is not a config object', async () => {
    for (const input of [undefined, null, 42, [], 'x']) {
      const issue = await only(input);
      expect(issue.path).toBe('');
      expect(issue.message).toMatch(/expected an object with "listeners" and "pools"/);
    }
  });

  it('reports every problem at once, in config order', async () => {
    const c = base();
    c['listeners'] = [
      { name: 'web', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'wbe' },
      { name: 'db', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web' },
      { name: 'x', bind: '127.0.0.1:8082', mode: 'tcp', pool: 'api', extra: true },
    ];
    c['pools'].web.servers = ['127.0.0.1:9001', '127.0.0.1:99999'];
    c['pools'].api.servers = [{ address: '127.0.0.1:1', weight: 0 }, 'nope'];
    c['timeouts'] = { connectMs: 0 };
    expect((await issues(c)).map((i) => i.path)).toEqual([
      'listeners[0].pool',
      'listeners[1].bind',
      'listeners[2].extra',
      'pools.web.servers[1]',
      'pools.api.servers[0].weight',
      'pools.api.servers[1]',
      'timeouts.connectMs',
    ]);
  });

  it('reports every problem with the new fields at once', async () => {
    const c = base();
    c['listeners'][0].maxconn = -1;
    c['pools'].web = {
      balance: { hash: 'header' },
      maxconn: 2_000_000,
      queue: { timeoutMs: 0 },
      servers: ['127.0.0.1:9001', { address: '127.0.0.1:99999', maxconn: -5, state: 'off' }],
      health: { type: 'tcp', path: '/x', timeoutMs: 5000, rise: 0 },
      passive: { errors: 0, count5xx: 1 },
    };
    c['pools'].api.balance = { hash: 'host', header: 'x-tenant' };
    c['pools'].api.health = { path: 'healthz', host: 'bad host', intervalMs: 500, timeoutMs: 501 };
    expect((await issues(c)).map((i) => i.path)).toEqual([
      'listeners[0].maxconn',
      // Within a pool: shape issues in the order of PoolConfig's fields, then meaning issues.
      'pools.web.servers[1].maxconn',
      'pools.web.servers[1].state',
      'pools.web.maxconn',
      'pools.web.queue.timeoutMs',
      'pools.web.health.rise',
      'pools.web.passive.errors',
      'pools.web.passive.count5xx',
      'pools.web.balance.header',
      'pools.web.health.path',
      'pools.web.health.timeoutMs',
      'pools.web.servers[1]',
      'pools.api.balance.header',
      'pools.api.health.path',
      'pools.api.health.host',
      'pools.api.health.timeoutMs',
    ]);
  });

  it('still checks meaning next to a shape error', async () => {
    const c = base();
    // The pool has an unknown key, yet its bad server and the listener's typo are reported too.
    c['pools'].web = { servers: ['127.0.0.1:99999'], helth: {} };
    c['listeners'][0].pool = 'wbe';
    expect((await issues(c)).map((i) => i.path)).toEqual(['listeners[0].pool', 'pools.web.helth', 'pools.web.servers[0]']);
  });
});

describe('resolveConfig: the examples', () => {
  // `import { defineConfig } from 'epoxy'` would load the built package and its native addon;
  // defineConfig lives in the config types, so the examples resolve without a build.
  const root = resolve(fileURLToPath(import.meta.url), '../..');
  const jiti = createJiti(import.meta.url, { alias: { epoxy: join(root, 'src/config/types.ts') }, moduleCache: false });

  it('resolves every example except bad.config.ts', async () => {
    const names = readdirSync(join(root, 'examples')).filter((n) => n.endsWith('.config.ts') && n !== 'bad.config.ts');
    expect(names).toContain('tcp.config.ts');
    for (const name of names) {
      const config = await jiti.import(join(root, 'examples', name), { default: true });
      await ok(config);
    }
  });
});
