/**
 * Operator commands behind `epoxy hosts …` and `epoxy servers …`: they write the Redis named by
 * the config in the layout the loader reads, and validate hosts and addresses by the loader's
 * own rules, so that what an operator can write is what every instance will route by.
 *
 * Each change is one MULTI/EXEC that also PUBLISHes the host (or `pool:<name>`) on the change
 * channel: the instances re-read it at once, and a reader never sees the write without the
 * message following it. Read-modify-write changes (remove, hipache add, pools) WATCH the key and
 * retry when another writer got in between. Results are plain values; errors are thrown with the
 * offending argument named and never contain the Redis password.
 */
import { Redis, type ChainableCommander } from 'ioredis';

import { compileTemplate, escapeGlob, keyOf, parseHost, rawHostOf, type KeyTemplate } from './keys.js';
import { readPoolKey, SCAN_COUNT } from './loader.js';
import { parseHipacheList, parseHipacheUrl, parsePoolHash, parsePoolSet, parseServer, parseSetMembers, parseWeight, sortUnique, MAX_WEIGHT } from './parse.js';
import { errorText, parseRedisUrl } from './redis-url.js';
import type { HostMapSettings, PoolSourceSettings, RedisSettings, WeightedServer } from './types.js';

export interface HostEntry {
  host: string;
  key: string;
  servers: string[];
  /** Entries stored under the key that the loader skips. */
  invalid: string[];
  /** hipache format: the list's first element (hipache's app identifier; the loader ignores it). */
  identifier?: string;
}

export interface HostsSetOptions {
  /** hipache format: the identifier to write first in the list; default the normalized host. */
  identifier?: string;
}

const MAX_ATTEMPTS = 10;

/** hosts set <host> <addr...>: replaces the host's servers (and a hipache key's identifier). Returns them as stored. */
export async function hostsSet(
  redis: RedisSettings, map: HostMapSettings, host: string, addresses: readonly string[], options: HostsSetOptions = {},
): Promise<string[]> {
  const target = hostTarget(map, host);
  const servers = serverArgs(addresses);
  const identifier = identifierArg(map, options.identifier) ?? target.host;
  return withRedis(redis, async (r) => {
    await change(r, target.key, async (m) => {
      await expectType(r, target.key, map);
      m.del(target.key);
      if (map.format === 'set') m.sadd(target.key, ...servers);
      else m.rpush(target.key, identifier, ...servers.map(toUrl));
      return true;
    }, redis.channel, target.host);
    return servers;
  });
}

/** hosts add <host> <addr...>: adds servers (a hipache key gets its identifier when new). */
export async function hostsAdd(redis: RedisSettings, map: HostMapSettings, host: string, addresses: readonly string[]): Promise<string[]> {
  const target = hostTarget(map, host);
  const servers = serverArgs(addresses);
  return withRedis(redis, async (r) => {
    await change(r, target.key, async (m) => {
      const current = await readEntry(r, target, map);
      const missing = servers.filter((s) => !current?.servers.includes(s));
      if (missing.length === 0) return false;
      if (map.format === 'set') m.sadd(target.key, ...missing);
      else if (current) m.rpush(target.key, ...missing.map(toUrl));
      else m.rpush(target.key, target.host, ...missing.map(toUrl));
      return true;
    }, redis.channel, target.host);
    return (await readEntry(r, target, map))?.servers ?? [];
  });
}

/** hosts remove <host> <addr...>: removes servers, matching stored entries by their normalized form. */
export async function hostsRemove(redis: RedisSettings, map: HostMapSettings, host: string, addresses: readonly string[]): Promise<string[]> {
  const target = hostTarget(map, host);
  const gone = new Set(serverArgs(addresses));
  return withRedis(redis, async (r) => {
    await change(r, target.key, async (m) => {
      const raw = await readRaw(r, target.key, map);
      if (raw === undefined) return false;
      if (map.format === 'set') {
        const drop = raw.filter((member) => matches(parseServer(member), gone));
        if (drop.length === 0) return false;
        m.srem(target.key, ...drop);
        return true;
      }
      const [identifier = target.host, ...urls] = raw;
      const keep = urls.filter((url) => !matches(parseHipacheUrl(url), gone));
      if (keep.length === urls.length) return false;
      m.del(target.key);
      m.rpush(target.key, identifier, ...keep);
      return true;
    }, redis.channel, target.host);
    return (await readEntry(r, target, map))?.servers ?? [];
  });
}

/** hosts get <host>: the entry as the loader reads it, or null when there is no key. */
export async function hostsGet(redis: RedisSettings, map: HostMapSettings, host: string): Promise<HostEntry | null> {
  const target = hostTarget(map, host);
  return withRedis(redis, async (r) => (await readEntry(r, target, map)) ?? null);
}

/** hosts list [pattern]: the normalized hosts whose key exists; pattern is a Redis glob over the host part. */
export async function hostsList(redis: RedisSettings, map: HostMapSettings, pattern = '*'): Promise<string[]> {
  const template = compileTemplate(map.key);
  const match = `${escapeGlob(template.prefix)}${pattern}${escapeGlob(template.suffix)}`;
  return withRedis(redis, async (r) => {
    const hosts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const key of keys) {
        const parsed = parseHost(rawHostOf(template, key) ?? '');
        if ('host' in parsed) hosts.push(parsed.host);
      }
    } while (cursor !== '0');
    return sortUnique(hosts);
  });
}

/** hosts del <host>: deletes the host's key. Returns whether it existed. */
export async function hostsDel(redis: RedisSettings, map: HostMapSettings, host: string): Promise<boolean> {
  const target = hostTarget(map, host);
  return withRedis(redis, async (r) => {
    const replies = await r.multi().del(target.key).publish(redis.channel, target.host).exec();
    return checkReplies(replies, target.key)[0] === 1;
  });
}

/**
 * servers add <pool> <addr> [weight]: a SET member, or a HASH field with its weight. A new key
 * becomes a SET unless a weight is given; a SET cannot carry a weight other than 1.
 */
export async function serversAdd(redis: RedisSettings, pool: PoolSourceSettings, address: string, weight?: number | string): Promise<WeightedServer[]> {
  const server = serverArgs([address])[0] ?? address;
  const w = weight === undefined ? undefined : weightArg(weight);
  return withRedis(redis, async (r) => {
    await change(r, pool.key, async (m) => {
      const type = await r.type(pool.key);
      const raw = await rawPoolMembers(r, pool.key, type);
      const same = raw.filter((member) => matches(parseServer(member), new Set([server])));
      if (type === 'set' || (type === 'none' && w === undefined)) {
        if (w !== undefined && w !== 1) throw new Error(`pool "${pool.pool}": key ${pool.key} is a SET (weight 1); weight ${w} needs a HASH`);
        if (same.length > 0) return false;
        m.sadd(pool.key, server);
        return true;
      }
      if (same.length > 0) m.hdel(pool.key, ...same);
      m.hset(pool.key, server, String(w ?? 1));
      return true;
    }, redis.channel, `pool:${pool.pool}`);
    return poolMembers(r, pool);
  });
}

/** servers remove <pool> <addr>: removes the member (matched by its normalized form). */
export async function serversRemove(redis: RedisSettings, pool: PoolSourceSettings, address: string): Promise<WeightedServer[]> {
  const server = serverArgs([address])[0] ?? address;
  return withRedis(redis, async (r) => {
    await change(r, pool.key, async (m) => {
      const type = await r.type(pool.key);
      const drop = (await rawPoolMembers(r, pool.key, type)).filter((member) => matches(parseServer(member), new Set([server])));
      if (drop.length === 0) return false;
      if (type === 'set') m.srem(pool.key, ...drop);
      else m.hdel(pool.key, ...drop);
      return true;
    }, redis.channel, `pool:${pool.pool}`);
    return poolMembers(r, pool);
  });
}

/** servers list <pool>: the members as the loader reads them. */
export async function serversList(redis: RedisSettings, pool: PoolSourceSettings): Promise<WeightedServer[]> {
  return withRedis(redis, (r) => poolMembers(r, pool));
}

interface HostTarget {
  host: string;
  key: string;
  template: KeyTemplate;
}

function hostTarget(map: HostMapSettings, host: string): HostTarget {
  const parsed = parseHost(host);
  if ('error' in parsed) throw new Error(`host map "${map.name}": ${parsed.error}`);
  const template = compileTemplate(map.key);
  return { host: parsed.host, key: keyOf(template, parsed.host), template };
}

function serverArgs(addresses: readonly string[]): string[] {
  if (addresses.length === 0) throw new Error('no server address given (expected ip:port)');
  return sortUnique(addresses.map((text) => {
    const parsed = parseServer(text);
    if ('error' in parsed) throw new Error(`server address ${parsed.error}`);
    return parsed.address;
  }));
}

function identifierArg(map: HostMapSettings, identifier: string | undefined): string | undefined {
  if (identifier === undefined) return undefined;
  if (map.format !== 'hipache') throw new Error(`host map "${map.name}" has format '${map.format}': only hipache keys hold an identifier`);
  if (identifier.trim() === '') throw new Error('the hipache identifier must not be empty');
  return identifier;
}

function weightArg(weight: number | string): number {
  const w = parseWeight(String(weight));
  if (w === undefined) throw new Error(`weight "${String(weight)}" is not an integer 1..${MAX_WEIGHT}`);
  return w;
}

function toUrl(address: string): string {
  return `http://${address}`;
}

function matches(parsed: { address: string } | { error: string }, set: ReadonlySet<string>): boolean {
  return 'address' in parsed && set.has(parsed.address);
}

/**
 * WATCH key, let `build` read and queue its writes on a MULTI (false: nothing to change), add the
 * PUBLISH, EXEC; again if the key changed meanwhile.
 */
async function change(
  r: Redis, key: string, build: (m: ChainableCommander) => Promise<boolean>, channel: string, message: string,
): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    await r.watch(key);
    const multi = r.multi();
    let write: boolean;
    try {
      write = await build(multi);
    } catch (err) {
      multi.discard();
      await r.unwatch();
      throw err;
    }
    if (!write) {
      multi.discard();
      await r.unwatch();
      return;
    }
    multi.publish(channel, message);
    const replies = await multi.exec();
    if (replies !== null) {
      checkReplies(replies, key);
      return;
    }
  }
  throw new Error(`key ${key} kept changing under concurrent writers; gave up after ${MAX_ATTEMPTS} attempts`);
}

function checkReplies(replies: Array<[Error | null, unknown]> | null, key: string): unknown[] {
  if (replies === null) throw new Error(`the transaction on ${key} was aborted`);
  const failed = replies.find(([err]) => err !== null);
  if (failed?.[0]) throw new Error(`writing ${key} failed: ${failed[0].message}`);
  return replies.map(([, value]) => value);
}

async function expectType(r: Redis, key: string, map: HostMapSettings): Promise<string> {
  const type = await r.type(key);
  const want = map.format === 'set' ? 'set' : 'list';
  if (type !== 'none' && type !== want) {
    throw new Error(`host map "${map.name}": key ${key} is a ${type}, not a ${want} (format '${map.format}'); fix or delete it first`);
  }
  return type;
}

async function readRaw(r: Redis, key: string, map: HostMapSettings): Promise<string[] | undefined> {
  const type = await expectType(r, key, map);
  if (type === 'none') return undefined;
  return map.format === 'set' ? r.smembers(key) : r.lrange(key, 0, -1);
}

async function readEntry(r: Redis, target: HostTarget, map: HostMapSettings): Promise<HostEntry | undefined> {
  const raw = await readRaw(r, target.key, map);
  if (raw === undefined) return undefined;
  const parsed = map.format === 'set' ? parseSetMembers(raw) : parseHipacheList(raw);
  const entry: HostEntry = { host: target.host, key: target.key, servers: parsed.servers, invalid: parsed.invalid.map((i) => i.entry) };
  if (map.format === 'hipache' && raw[0] !== undefined) entry.identifier = raw[0];
  return entry;
}

async function rawPoolMembers(r: Redis, key: string, type: string): Promise<string[]> {
  if (type === 'none') return [];
  if (type === 'set') return r.smembers(key);
  if (type === 'hash') return r.hkeys(key);
  throw new Error(`pool key ${key} is a ${type}, not a set or a hash; fix or delete it first`);
}

async function poolMembers(r: Redis, pool: PoolSourceSettings): Promise<WeightedServer[]> {
  const read = await readPoolKey(r, pool.key);
  if (read.kind === 'error') throw read.error;
  if (read.kind === 'wrongtype') throw new Error(`pool key ${pool.key} is a ${read.type}, not a set or a hash`);
  if (read.kind === 'absent') return [];
  return read.kind === 'set' ? parsePoolSet(read.members).servers : parsePoolHash(read.fields).servers;
}

/** A short-lived connection that fails fast: an operator command must not hang on a dead Redis. */
async function withRedis<T>(settings: RedisSettings, use: (r: Redis) => Promise<T>): Promise<T> {
  const url = parseRedisUrl(settings.url);
  const r = new Redis(settings.url, {
    lazyConnect: true, connectionName: 'epoxy-cli', retryStrategy: () => null, maxRetriesPerRequest: 0,
    enableOfflineQueue: false, connectTimeout: 3000, commandTimeout: 10_000,
  });
  // connect() rejects with a bare "Connection is closed."; the cause (ECONNREFUSED, WRONGPASS) comes as an event.
  let cause: unknown;
  r.on('error', (err: unknown) => {
    cause = err;
  });
  try {
    await r.connect();
  } catch (err) {
    r.disconnect();
    throw new Error(`cannot reach redis at ${url.redacted}: ${errorText(cause ?? err, settings.url)}`);
  }
  try {
    return await use(r);
  } catch (err) {
    throw new Error(errorText(err, settings.url));
  } finally {
    r.disconnect();
  }
}
