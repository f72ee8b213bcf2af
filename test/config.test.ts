import { describe, expect, it } from 'vitest';
import type { ConfigIssue, ResolvedConfig } from '../src/config/types.js';
import { resolveConfig, type ResolveOptions } from '../src/config/validate.js';

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
    expect(config.listeners).toEqual([{ name: 'web', mode: 'tcp', bind: '127.0.0.1:8080', backlog: 4096, pool: 'web' }]);
    expect(config.pools).toEqual([
      {
        name: 'web',
        balance: 'roundrobin',
        retries: 3,
        servers: [
          { address: '127.0.0.1:9001', weight: 1 },
          { address: '127.0.0.1:9002', weight: 1 },
        ],
      },
      { name: 'api', balance: 'roundrobin', retries: 3, servers: [{ address: '127.0.0.1:9101', weight: 1 }] },
    ]);
    expect(config.timeouts).toEqual({
      connectMs: 5000,
      clientMs: 30000,
      serverMs: 30000,
      httpRequestMs: 10000,
      tunnelMs: 30000,
      selectMs: 1000,
    });
    expect(config.engine).toEqual({
      pipeSize: 262144,
      maxPipes: 1024,
      spliceThreshold: 16384,
      maxHeadBytes: 16384,
      serverIdleMax: 1000,
      serverIdleMs: 30000,
    });
    expect(config.accessLog).toBe(false);
    expect(config.select).toBeUndefined();
  });

  it('keeps explicit values, weights and the select hook', async () => {
    const select = () => undefined;
    const c = base();
    c['listeners'][0].backlog = 128;
    c['pools'].web = { balance: 'leastconn', retries: 0, servers: [{ address: '127.0.0.1:9001', weight: 5 }, { address: '[::1]:9002' }] };
    c['timeouts'] = { connectMs: 1, clientMs: 7000, selectMs: 86_400_000 };
    c['engine'] = { pipeSize: 4096, maxPipes: 0, spliceThreshold: 1048576, maxHeadBytes: 8192, serverIdleMax: 0, serverIdleMs: 5 };
    c['admin'] = { bind: '127.0.0.1:9900' };
    c['select'] = select;
    const config = await ok(c);
    expect(config.listeners[0]?.backlog).toBe(128);
    expect(config.pools[0]).toEqual({
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
    expect(config.engine).toEqual({ pipeSize: 4096, maxPipes: 0, spliceThreshold: 1048576, maxHeadBytes: 8192, serverIdleMax: 0, serverIdleMs: 5 });
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

  it('checks balance', async () => {
    const c = base();
    c['pools'].web.balance = 'random';
    expect(await only(c)).toEqual({ path: 'pools.web.balance', message: 'must be "roundrobin" or "leastconn", got string "random"' });
    const d = base();
    d['pools'].web.balance = { hash: 'host' };
    expect((await only(d)).message).toMatch(/hash balancing is not available yet/);
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

  it('checks engine ranges', async () => {
    const cases: Array<[string, number]> = [
      ['pipeSize', 4095],
      ['pipeSize', 1048577],
      ['maxPipes', -1],
      ['maxPipes', 65537],
      ['spliceThreshold', 1023],
      ['spliceThreshold', 1048577],
    ];
    for (const [key, value] of cases) {
      const c = base();
      c['engine'] = { [key]: value };
      expect((await only(c)).path).toBe(`engine.${key}`);
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

  it('still checks meaning next to a shape error', async () => {
    const c = base();
    // The pool has an unknown key, yet its bad server and the listener's typo are reported too.
    c['pools'].web = { servers: ['127.0.0.1:99999'], helth: {} };
    c['listeners'][0].pool = 'wbe';
    expect((await issues(c)).map((i) => i.path)).toEqual(['listeners[0].pool', 'pools.web.helth', 'pools.web.servers[0]']);
  });
});
