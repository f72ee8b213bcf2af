/**
 * `epoxy hosts` and `epoxy servers` end to end: the compiled CLI in a child process against a
 * real redis-server with a password, configs in a temp dir. Checks what each command prints and
 * exits with, what Redis holds after it (a separate client), and the PUBLISH on the config's
 * channel (a subscriber started first). Every run has EPOXY_ADDON pointing at a file that does
 * not exist, so a command that loaded the native addon would fail; and no run may print the
 * password. Needs dist/ (`npm run build:ts`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from './helpers.js';
import { startRedisServer, subscribeChannel, type ChannelMessages, type RedisServer } from './redis-server.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const CLI = join(ROOT, 'dist/cli/main.js');
const PASSWORD = 'cli-Secret-7f3';
const CHANNEL = 'fleet:changes';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function epoxy(...args: string[]): Promise<Run> {
  const started = Date.now();
  const env = { ...process.env, EPOXY_ADDON: join(dir, 'no-such-addon.node') };
  const run = await new Promise<Run>((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
  expect(run.stdout + run.stderr).not.toContain(PASSWORD);
  expect(run.stdout + run.stderr).not.toContain('no-such-addon');
  return run;
}

let dir: string;
let srv: RedisServer;
let w: Redis;
let changes: ChannelMessages;

const LISTENERS = (...routes: object[]) => [{ name: 'web', bind: '127.0.0.1:8080', mode: 'http', routes: [...routes, { pool: 'fallback' }] }];

function configFile(name: string, config: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** sites (set) and hip (hipache); pools apps and weighted in Redis, fallback in the config. */
let two: string;
/** Only sites, as a .ts file: the map is the default. */
let one: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npm run build:ts\``);
  dir = mkdtempSync(join(tmpdir(), 'epoxy-cli-hosts-'));
  srv = await startRedisServer({ password: PASSWORD });
  w = new Redis(srv.url);
  changes = await subscribeChannel(srv.url, CHANNEL);
  two = configFile('two.json', {
    redis: { url: srv.url, channel: CHANNEL },
    hostMaps: { sites: { key: 'hostnames:{host}:backends' }, hip: { format: 'hipache', key: 'frontend:{host}' } },
    listeners: LISTENERS({ hostMap: 'sites' }, { hostMap: 'hip' }),
    pools: {
      fallback: { servers: ['127.0.0.1:9001'] },
      apps: { balance: { hash: 'host' }, servers: { redis: 'epoxy:pool:apps' } },
      weighted: { servers: { redis: 'epoxy:pool:weighted' } },
    },
  });
  one = join(dir, 'one.config.ts');
  writeFileSync(one, `export default {
  redis: { url: ${JSON.stringify(srv.url)}, channel: ${JSON.stringify(CHANNEL)} },
  hostMaps: { sites: { key: 'hostnames:{host}:backends' } },
  listeners: ${JSON.stringify(LISTENERS({ hostMap: 'sites' }))},
  pools: { fallback: { servers: ['127.0.0.1:9001'] } },
};
`);
});

afterEach(async () => {
  await w.flushall();
  changes.pending.length = 0;
});

afterAll(async () => {
  w?.disconnect();
  changes?.close();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('epoxy hosts (set format)', () => {
  it('set / add / remove / get / list / del round trip: output, Redis contents, one PUBLISH per change', async () => {
    const key = 'hostnames:www.foo.com:backends';
    let r = await epoxy('hosts', one, 'set', 'WWW.Foo.com.', '10.0.0.2:80', '10.0.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.0.0.1:80\n10.0.0.2:80\n', stderr: '' });
    expect((await w.smembers(key)).sort()).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    expect(await changes.take(1)).toEqual(['www.foo.com']);

    r = await epoxy('hosts', one, 'add', 'www.foo.com', '[0:0::1]:8080');
    expect(r).toMatchObject({ code: 0, stdout: '10.0.0.1:80\n10.0.0.2:80\n[::1]:8080\n' });
    expect(await changes.take(1)).toEqual(['www.foo.com']);

    r = await epoxy('hosts', one, 'remove', 'www.foo.com:80', '10.0.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.0.0.2:80\n[::1]:8080\n' });
    expect((await w.smembers(key)).sort()).toEqual(['10.0.0.2:80', '[::1]:8080']);
    expect(await changes.take(1)).toEqual(['www.foo.com']);

    await w.sadd(key, 'garbage');
    r = await epoxy('hosts', one, 'get', 'WWW.FOO.COM');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'host       www.foo.com', `key        ${key}`, 'server     10.0.0.2:80', 'server     [::1]:8080', 'skipped    garbage', '',
    ]);
    r = await epoxy('hosts', one, 'get', 'www.foo.com', '--json');
    expect(JSON.parse(r.stdout)).toEqual({ map: 'sites', host: 'www.foo.com', key, servers: ['10.0.0.2:80', '[::1]:8080'], invalid: ['garbage'] });

    expect((await epoxy('hosts', one, 'set', 'api.bar.com', '10.0.0.4:80')).code).toBe(0);
    expect((await epoxy('hosts', one, 'list')).stdout).toBe('api.bar.com\nwww.foo.com\n');
    expect((await epoxy('hosts', one, 'list', 'a*')).stdout).toBe('api.bar.com\n');
    expect(JSON.parse((await epoxy('hosts', one, 'list', '--json')).stdout)).toEqual({ map: 'sites', hosts: ['api.bar.com', 'www.foo.com'] });
    expect(await changes.take(1)).toEqual(['api.bar.com']);

    r = await epoxy('hosts', one, 'remove', 'api.bar.com', '10.0.0.4:80');
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: 'epoxy: api.bar.com has no servers in host map sites\n' });
    expect(await w.exists('hostnames:api.bar.com:backends')).toBe(0);
    expect(await changes.take(1)).toEqual(['api.bar.com']);

    r = await epoxy('hosts', one, 'del', 'www.foo.com');
    expect(r).toMatchObject({ code: 0, stdout: 'deleted www.foo.com\n' });
    expect(await w.exists(key)).toBe(0);
    expect(await changes.take(1)).toEqual(['www.foo.com']);
    r = await epoxy('hosts', one, 'del', 'www.foo.com', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ map: 'sites', host: 'www.foo.com', deleted: false });

    r = await epoxy('hosts', one, 'get', 'www.foo.com');
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'epoxy: host map "sites" has no entry for www.foo.com\n' });
  });

  it('set --json prints the normalized host and its servers', async () => {
    const r = await epoxy('hosts', two, '--map', 'sites', 'set', 'A.example.COM.', '10.0.0.9:80', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ map: 'sites', host: 'a.example.com', servers: ['10.0.0.9:80'] });
    expect(await w.smembers('hostnames:a.example.com:backends')).toEqual(['10.0.0.9:80']);
  });
});

describe('epoxy hosts (hipache format)', () => {
  it('writes the host as identifier unless --id, keeps it through add and remove; get shows it', async () => {
    const key = 'frontend:app.bar.com';
    let r = await epoxy('hosts', two, '--map', 'hip', 'set', 'App.Bar.com', '10.1.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.1.0.1:80\n' });
    expect(await w.lrange(key, 0, -1)).toEqual(['app.bar.com', 'http://10.1.0.1:80']);

    r = await epoxy('hosts', two, '--map', 'hip', 'set', 'app.bar.com', '10.1.0.2:80', '10.1.0.1:80', '--id', 'my-app');
    expect(r).toMatchObject({ code: 0, stdout: '10.1.0.1:80\n10.1.0.2:80\n' });
    expect(await w.lrange(key, 0, -1)).toEqual(['my-app', 'http://10.1.0.1:80', 'http://10.1.0.2:80']);

    r = await epoxy('hosts', two, 'add', 'app.bar.com', '[::1]:81', '--map', 'hip');
    expect(r).toMatchObject({ code: 0, stdout: '10.1.0.1:80\n10.1.0.2:80\n[::1]:81\n' });
    r = await epoxy('hosts', two, '--map', 'hip', 'remove', 'app.bar.com', '10.1.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.1.0.2:80\n[::1]:81\n' });
    expect(await w.lrange(key, 0, -1)).toEqual(['my-app', 'http://10.1.0.2:80', 'http://[::1]:81']);

    r = await epoxy('hosts', two, '--map', 'hip', 'get', 'app.bar.com');
    expect(r.stdout).toBe(`host       app.bar.com\nkey        ${key}\nidentifier my-app\nserver     10.1.0.2:80\nserver     [::1]:81\n`);
    r = await epoxy('hosts', two, '--map', 'hip', 'get', 'app.bar.com', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ map: 'hip', identifier: 'my-app', servers: ['10.1.0.2:80', '[::1]:81'] });

    await epoxy('hosts', two, '--map', 'hip', 'add', '*.bar.com', '10.1.0.3:80');
    expect(await w.lrange('frontend:*.bar.com', 0, -1)).toEqual(['*.bar.com', 'http://10.1.0.3:80']);
    expect((await epoxy('hosts', two, '--map', 'hip', 'list')).stdout).toBe('*.bar.com\napp.bar.com\n');
    expect((await epoxy('hosts', two, '--map', 'hip', 'del', 'app.bar.com')).stdout).toBe('deleted app.bar.com\n');
    expect(await w.exists(key)).toBe(0);
    expect(await changes.take(6)).toEqual(['app.bar.com', 'app.bar.com', 'app.bar.com', 'app.bar.com', '*.bar.com', 'app.bar.com']);
  });

  it('--id goes only with set, and only on a hipache map (exit 2)', async () => {
    let r = await epoxy('hosts', two, '--map', 'sites', 'set', 'a.com', '10.0.0.1:80', '--id', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^epoxy: --id is for hipache maps; host map "sites" has format 'set'\n/);
    r = await epoxy('hosts', two, '--map', 'hip', 'add', 'a.com', '10.0.0.1:80', '--id', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^epoxy: --id goes with hosts set\n/);
    expect(await w.keys('*')).toEqual([]);
  });
});

describe('epoxy hosts: choosing the map', () => {
  it('--map is required with two maps (exit 2), an unknown one lists the known (exit 1)', async () => {
    let r = await epoxy('hosts', two, 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^epoxy: --map is required: the config has host maps sites, hip\n\nUsage: epoxy/);
    r = await epoxy('hosts', two, '--map', 'nope', 'set', 'a.com', '10.0.0.1:80');
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'epoxy: unknown host map "nope" (known: sites, hip)\n' });
    r = await epoxy('hosts', one, '--map', 'sites', 'set', 'a.com', '10.0.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.0.0.1:80\n' });
    expect(await changes.take(1)).toEqual(['a.com']);
  });
});

describe('epoxy servers', () => {
  it('add / remove / list on an existing SET key: members stay a SET, weight 1', async () => {
    const key = 'epoxy:pool:apps';
    await w.sadd(key, '10.2.0.9:80');
    let r = await epoxy('servers', two, 'add', 'apps', '10.2.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.2.0.1:80 1\n10.2.0.9:80 1\n' });
    expect(await w.type(key)).toBe('set');
    expect(await changes.take(1)).toEqual(['pool:apps']);

    r = await epoxy('servers', two, 'add', 'apps', '10.2.0.2:80', '5');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^epoxy: pool "apps": key epoxy:pool:apps is a SET \(weight 1\); weight 5 needs a HASH\n$/);

    r = await epoxy('servers', two, 'remove', 'apps', '10.2.0.9:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.2.0.1:80 1\n' });
    expect(await w.smembers(key)).toEqual(['10.2.0.1:80']);
    r = await epoxy('servers', two, 'list', 'apps', '--json');
    expect(JSON.parse(r.stdout)).toEqual({ pool: 'apps', key, servers: [{ address: '10.2.0.1:80', weight: 1 }] });
    r = await epoxy('servers', two, 'remove', 'apps', '10.2.0.1:80');
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: 'epoxy: pool apps has no servers in epoxy:pool:apps\n' });
    expect(await changes.take(2)).toEqual(['pool:apps', 'pool:apps']);
  });

  it('add / remove / list with weights in a HASH key', async () => {
    const key = 'epoxy:pool:weighted';
    let r = await epoxy('servers', two, 'add', 'weighted', '10.3.0.1:80', '5');
    expect(r).toMatchObject({ code: 0, stdout: '10.3.0.1:80 5\n' });
    expect(await w.type(key)).toBe('hash');
    r = await epoxy('servers', two, 'add', 'weighted', '10.3.0.2:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.3.0.1:80 5\n10.3.0.2:80 1\n' });
    r = await epoxy('servers', two, 'add', 'weighted', '10.3.0.1:80', '7');
    expect(r).toMatchObject({ code: 0, stdout: '10.3.0.1:80 7\n10.3.0.2:80 1\n' });
    expect(await w.hgetall(key)).toEqual({ '10.3.0.1:80': '7', '10.3.0.2:80': '1' });
    expect((await epoxy('servers', two, 'list', 'weighted')).stdout).toBe('10.3.0.1:80 7\n10.3.0.2:80 1\n');
    r = await epoxy('servers', two, 'remove', 'weighted', '10.3.0.2:80');
    expect(r).toMatchObject({ code: 0, stdout: '10.3.0.1:80 7\n' });
    r = await epoxy('servers', two, 'add', 'weighted', '10.3.0.3:80', '0');
    expect(r).toMatchObject({ code: 1, stderr: 'epoxy: weight "0" is not an integer 1..256\n' });
    expect(await changes.take(4)).toEqual(['pool:weighted', 'pool:weighted', 'pool:weighted', 'pool:weighted']);
  });
});

describe('epoxy hosts and servers: errors', () => {
  it('pools: unknown, in the config, a host map\'s (exit 1, naming the pools in Redis)', async () => {
    const known = '(pools with servers in Redis: apps, weighted)';
    let r = await epoxy('servers', two, 'list', 'zz');
    expect(r).toMatchObject({ code: 1, stderr: `epoxy: unknown pool "zz" ${known}\n` });
    r = await epoxy('servers', two, 'add', 'fallback', '10.0.0.1:80');
    expect(r).toMatchObject({ code: 1, stderr: `epoxy: pool "fallback" lists its servers in the config, not in Redis ${known}\n` });
    r = await epoxy('servers', two, 'list', 'sites');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^epoxy: pool "sites" is the pool of host map "sites": .*epoxy hosts/);
  });

  it('a config without redis, an invalid config', async () => {
    const plain = configFile('plain.json', { listeners: LISTENERS(), pools: { fallback: { servers: ['127.0.0.1:9001'] } } });
    for (const args of [['hosts', plain, 'list'], ['servers', plain, 'list', 'apps']]) {
      const r = await epoxy(...args);
      expect(r).toMatchObject({ code: 1, stdout: '' });
      expect(r.stderr).toMatch(/^epoxy: .*plain\.json has no redis: /);
    }
    const invalid = configFile('invalid.json', {
      hostMaps: { sites: {} }, listeners: LISTENERS({ hostMap: 'sites' }), pools: { fallback: { servers: ['127.0.0.1:9001'] } },
    });
    const r = await epoxy('hosts', invalid, 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid\.json: 1 problem:\n.*hostMaps: needs redis/);
  });

  it('invalid hosts and addresses: the message of the check, nothing written or published', async () => {
    let r = await epoxy('hosts', one, 'set', 'a.com', '10.0.0.1');
    expect(r).toMatchObject({ code: 1, stderr: 'epoxy: server address "10.0.0.1" is not a valid address: missing ":port" (expected host:port)\n' });
    r = await epoxy('hosts', one, 'add', 'a.com', 'backend.internal:80');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/"backend\.internal:80" is not an IP literal/);
    r = await epoxy('hosts', one, 'set', 'bad host!', '10.0.0.1:80');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^epoxy: host map "sites": host "bad host!" is not a host name/);
    r = await epoxy('servers', two, 'add', 'apps', 'x:y');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^epoxy: server address /);
    await new Promise((res) => setTimeout(res, 50));
    expect(changes.pending).toEqual([]);
    expect(await w.keys('*')).toEqual([]);
  });

  it('the command line: unknown sub-command or option, missing or extra arguments (exit 2 with the usage)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['hosts', one], /hosts needs a config file and a sub-command \(set\|add\|remove\|get\|list\|del\)/],
      [['hosts', one, 'frob'], /unknown hosts sub-command "frob"/],
      [['hosts', one, 'set', 'a.com'], /usage: epoxy hosts <config> set <host> <addr>\.\.\./],
      [['hosts', one, 'get', 'a.com', 'b.com'], /usage: epoxy hosts <config> get <host>/],
      [['hosts', one, 'list', '--map'], /--map needs a value/],
      [['hosts', one, 'list', '--frob'], /unknown option "--frob"/],
      [['servers', two, 'add', 'apps', '10.0.0.1:80', '2', '3'], /usage: epoxy servers <config> add <pool> <addr> \[weight\]/],
      [['servers', two, 'list', 'apps', '--map', 'sites'], /unknown option "--map"/],
    ];
    for (const [args, message] of cases) {
      const r = await epoxy(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('\n\nUsage: epoxy');
    }
  });

  it('Redis down: exit 1 within 5 s, the URL redacted; a refused password is named, not shown', async () => {
    const down = configFile('down.json', {
      redis: { url: `redis://:${PASSWORD}@127.0.0.1:${await freePort()}/0` },
      hostMaps: { sites: {} }, listeners: LISTENERS({ hostMap: 'sites' }), pools: { fallback: { servers: ['127.0.0.1:9001'] } },
    });
    for (const args of [['hosts', down, 'set', 'a.com', '10.0.0.1:80'], ['hosts', down, 'list']]) {
      const r = await epoxy(...args);
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(5000);
      expect(r.stderr).toMatch(/^epoxy: cannot reach redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: connect ECONNREFUSED .*\n$/);
    }
    const wrong = configFile('wrong.json', {
      redis: { url: srv.url.replace(PASSWORD, 'not-the-password') },
      hostMaps: { sites: {} }, listeners: LISTENERS({ hostMap: 'sites' }), pools: { fallback: { servers: ['127.0.0.1:9001'] } },
    });
    const r = await epoxy('hosts', wrong, 'get', 'a.com');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^epoxy: cannot reach redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: WRONGPASS/);
    expect(r.stderr).not.toContain('not-the-password');
  });
});
