/**
 * The operator commands (src/hostmaps/commands.ts) against a real redis-server: round trips in
 * both formats and for pools, validation naming the bad argument, each change published on the
 * channel (a test subscriber sees it), and a following HostMapSource seeing the change.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as cmd from '../src/hostmaps/commands.js';
import { HostMapSource } from '../src/hostmaps/source.js';
import type { HostMapSettings, PoolSourceSettings, RedisSettings } from '../src/hostmaps/types.js';
import { freePort, logger } from './helpers.js';
import { startRedisServer, subscribeChannel, type ChannelMessages, type RedisServer } from './redis-server.js';

const SITES: HostMapSettings = { name: 'sites', key: 'hostnames:{host}:backends', format: 'set' };
const HIP: HostMapSettings = { name: 'hip', key: 'frontend:{host}', format: 'hipache' };
const APPS: PoolSourceSettings = { pool: 'apps', key: 'epoxy:pool:apps' };

let srv: RedisServer;
let redis: RedisSettings;
let w: Redis;
let changes: ChannelMessages;

beforeAll(async () => {
  srv = await startRedisServer({ password: 'cmd-secret' });
  redis = { url: srv.url, channel: 'epoxy:changes', resyncMs: 60_000 };
  w = new Redis(srv.url);
  changes = await subscribeChannel(srv.url, 'epoxy:changes');
});

afterEach(async () => {
  await w.flushall();
  changes.pending.length = 0;
});

afterAll(async () => {
  w.disconnect();
  changes?.close();
  await srv.stop();
});

describe('hosts (set format)', () => {
  it('set / add / remove / get / list / del round trip, each change published', async () => {
    expect(await cmd.hostsSet(redis, SITES, 'WWW.Foo.com.', ['10.0.0.2:80', '10.0.0.1:80', '10.0.0.1:80'])).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    expect((await w.smembers('hostnames:www.foo.com:backends')).sort()).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    expect(await changes.take(1)).toEqual(['www.foo.com']);

    expect(await cmd.hostsAdd(redis, SITES, 'www.foo.com', ['[0:0::1]:8080'])).toEqual(['10.0.0.1:80', '10.0.0.2:80', '[::1]:8080']);
    expect(await changes.take(1)).toEqual(['www.foo.com']);

    await w.sadd('hostnames:www.foo.com:backends', 'garbage', '10.0.0.01:80');
    expect(await cmd.hostsRemove(redis, SITES, 'www.foo.com', ['10.0.0.1:80'])).toEqual(['10.0.0.2:80', '[::1]:8080']);
    expect(await changes.take(1)).toEqual(['www.foo.com']);
    expect(await cmd.hostsGet(redis, SITES, 'www.foo.com:80')).toEqual({
      host: 'www.foo.com', key: 'hostnames:www.foo.com:backends', servers: ['10.0.0.2:80', '[::1]:8080'], invalid: expect.arrayContaining(['garbage', '10.0.0.01:80']) as unknown,
    });

    await cmd.hostsSet(redis, SITES, '*.foo.com', ['10.0.0.3:80']);
    await cmd.hostsSet(redis, SITES, 'api.bar.com', ['10.0.0.4:80']);
    await w.sadd('hostnames:Mixed.Case.com:backends', '10.0.0.5:80');
    expect(await cmd.hostsList(redis, SITES)).toEqual(['*.foo.com', 'api.bar.com', 'mixed.case.com', 'www.foo.com']);
    expect(await cmd.hostsList(redis, SITES, 'a*')).toEqual(['api.bar.com']);
    await changes.take(2);

    expect(await cmd.hostsDel(redis, SITES, 'www.foo.com')).toBe(true);
    expect(await cmd.hostsDel(redis, SITES, 'www.foo.com')).toBe(false);
    expect(await cmd.hostsGet(redis, SITES, 'www.foo.com')).toBeNull();
    expect(await changes.take(2)).toEqual(['www.foo.com', 'www.foo.com']);
  });

  it('an unchanged add or remove writes and publishes nothing', async () => {
    await cmd.hostsSet(redis, SITES, 'a.com', ['10.0.0.1:80']);
    await changes.take(1);
    await cmd.hostsAdd(redis, SITES, 'a.com', ['10.0.0.1:80']);
    await cmd.hostsRemove(redis, SITES, 'a.com', ['10.0.0.9:80']);
    await new Promise((r) => setTimeout(r, 50));
    expect(changes.pending).toEqual([]);
  });

  it('validates hosts, addresses and key types, naming the bad argument', async () => {
    await expect(cmd.hostsSet(redis, SITES, 'bad host!', ['10.0.0.1:80'])).rejects.toThrow(/host "bad host!" is not a host name/);
    await expect(cmd.hostsSet(redis, SITES, 'a.com', ['backend.internal:80'])).rejects.toThrow(/"backend\.internal:80" is not an IP literal/);
    await expect(cmd.hostsAdd(redis, SITES, 'a.com', ['10.0.0.1'])).rejects.toThrow(/"10\.0\.0\.1" is not a valid address/);
    await expect(cmd.hostsAdd(redis, SITES, 'a.com', [])).rejects.toThrow(/no server address/);
    await w.set('hostnames:str.com:backends', 'x');
    await expect(cmd.hostsAdd(redis, SITES, 'str.com', ['10.0.0.1:80'])).rejects.toThrow(/is a string, not a set/);
    expect(await w.get('hostnames:str.com:backends')).toBe('x');
    expect(changes.pending).toEqual([]);
  });

  it('fails fast with the redacted URL when Redis is unreachable', async () => {
    const url = `redis://:cmd-secret@127.0.0.1:${await freePort()}/0`;
    const err = await cmd.hostsGet({ ...redis, url }, SITES, 'a.com').catch((e: unknown) => e as Error);
    expect(String(err)).toMatch(/cannot reach redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: connect ECONNREFUSED/);
    expect(String(err)).not.toContain('cmd-secret');
  });

  it('names a refused password as the cause, without the password', async () => {
    const url = srv.url.replace('cmd-secret', 'wrong-secret');
    const err = await cmd.hostsGet({ ...redis, url }, SITES, 'a.com').catch((e: unknown) => e as Error);
    expect(String(err)).toMatch(/cannot reach redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: WRONGPASS/);
    expect(String(err)).not.toContain('secret');
  });
});

describe('hosts (hipache format)', () => {
  it('writes the identifier first, keeps it through add and remove', async () => {
    expect(await cmd.hostsSet(redis, HIP, 'www.bar.com', ['10.1.0.1:80', '[::1]:81'])).toEqual(['10.1.0.1:80', '[::1]:81']);
    expect(await w.lrange('frontend:www.bar.com', 0, -1)).toEqual(['www.bar.com', 'http://10.1.0.1:80', 'http://[::1]:81']);
    await cmd.hostsAdd(redis, HIP, 'new.bar.com', ['10.1.0.5:8080']);
    expect(await w.lrange('frontend:new.bar.com', 0, -1)).toEqual(['new.bar.com', 'http://10.1.0.5:8080']);
    await w.rpush('frontend:www.bar.com', 'http://10.1.0.2');
    expect(await cmd.hostsRemove(redis, HIP, 'www.bar.com', ['10.1.0.2:80', '10.1.0.1:80'])).toEqual(['[::1]:81']);
    expect(await w.lrange('frontend:www.bar.com', 0, -1)).toEqual(['www.bar.com', 'http://[::1]:81']);
    expect(await cmd.hostsAdd(redis, HIP, 'www.bar.com', ['10.1.0.3:80'])).toEqual(['10.1.0.3:80', '[::1]:81']);
    expect(await changes.take(4)).toEqual(['www.bar.com', 'new.bar.com', 'www.bar.com', 'www.bar.com']);
  });

  it('set takes an identifier other than the host; get returns it', async () => {
    expect(await cmd.hostsSet(redis, HIP, 'App.Bar.com', ['10.1.0.7:80'], { identifier: 'my-app' })).toEqual(['10.1.0.7:80']);
    expect(await w.lrange('frontend:app.bar.com', 0, -1)).toEqual(['my-app', 'http://10.1.0.7:80']);
    await cmd.hostsAdd(redis, HIP, 'app.bar.com', ['10.1.0.8:80']);
    expect(await cmd.hostsGet(redis, HIP, 'app.bar.com')).toEqual({
      host: 'app.bar.com', key: 'frontend:app.bar.com', servers: ['10.1.0.7:80', '10.1.0.8:80'], invalid: [], identifier: 'my-app',
    });
    await expect(cmd.hostsSet(redis, HIP, 'app.bar.com', ['10.1.0.7:80'], { identifier: ' ' })).rejects.toThrow(/identifier must not be empty/);
    await expect(cmd.hostsSet(redis, SITES, 'app.bar.com', ['10.1.0.7:80'], { identifier: 'x' })).rejects.toThrow(/only hipache keys hold an identifier/);
    expect(await cmd.hostsGet(redis, SITES, 'app.bar.com')).toBeNull();
  });
});

describe('servers (pools)', () => {
  it('add / remove / list on a SET and a HASH, each change published as pool:<name>', async () => {
    expect(await cmd.serversAdd(redis, APPS, '10.2.0.1:80')).toEqual([{ address: '10.2.0.1:80', weight: 1 }]);
    expect(await w.type('epoxy:pool:apps')).toBe('set');
    await expect(cmd.serversAdd(redis, APPS, '10.2.0.2:80', 5)).rejects.toThrow(/is a SET \(weight 1\); weight 5 needs a HASH/);
    expect(await cmd.serversRemove(redis, APPS, '10.2.0.1:80')).toEqual([]);
    expect(await changes.take(2)).toEqual(['pool:apps', 'pool:apps']);

    expect(await cmd.serversAdd(redis, APPS, '10.2.0.2:80', '5')).toEqual([{ address: '10.2.0.2:80', weight: 5 }]);
    expect(await w.type('epoxy:pool:apps')).toBe('hash');
    await cmd.serversAdd(redis, APPS, '10.2.0.3:80');
    await cmd.serversAdd(redis, APPS, '10.2.0.2:80', 7);
    expect(await cmd.serversList(redis, APPS)).toEqual([{ address: '10.2.0.2:80', weight: 7 }, { address: '10.2.0.3:80', weight: 1 }]);
    await expect(cmd.serversAdd(redis, APPS, '10.2.0.4:80', 257)).rejects.toThrow(/weight "257" is not an integer 1\.\.256/);
    expect(await cmd.serversRemove(redis, APPS, '10.2.0.2:80')).toEqual([{ address: '10.2.0.3:80', weight: 1 }]);
    expect(await changes.take(4)).toEqual(['pool:apps', 'pool:apps', 'pool:apps', 'pool:apps']);
  });
});

describe('commands and a following instance', () => {
  it('a HostMapSource sees each change within 1 s', async () => {
    const hosts: Array<[string, readonly string[] | null]> = [];
    const pools: Array<readonly unknown[]> = [];
    const source = new HostMapSource({
      redis, hostMaps: [SITES], pools: [APPS], logger,
      onHost: (_m, host, servers) => hosts.push([host, servers]),
      onPool: (_p, servers) => pools.push(servers),
    });
    await source.start();
    try {
      const until = async (check: () => boolean) => {
        const deadline = Date.now() + 1000;
        while (!check()) {
          if (Date.now() > deadline) throw new Error('no diff within 1 s');
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      await cmd.hostsSet(redis, SITES, 'Fleet.Example.com', ['10.3.0.1:80']);
      await until(() => hosts.length === 1);
      await cmd.serversAdd(redis, APPS, '10.3.0.9:80', 2);
      await until(() => pools.length === 1);
      await cmd.hostsDel(redis, SITES, 'fleet.example.com');
      await until(() => hosts.length === 2);
      expect(hosts).toEqual([['fleet.example.com', ['10.3.0.1:80']], ['fleet.example.com', null]]);
      expect(pools).toEqual([[{ address: '10.3.0.9:80', weight: 2 }]]);
    } finally {
      await source.stop();
    }
  });
});
