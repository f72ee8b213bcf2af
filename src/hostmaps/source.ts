/**
 * HostMapSource: the in-memory copy of every host map and Redis-backed pool of one epoxy
 * instance, kept in step with Redis three ways (the change channel, keyspace notifications when
 * the server sends them, a full resync every resyncMs) and handed to its owner as diffs.
 *
 * Failure rules (the README's "latch on to the previous configuration"):
 * - Redis unreachable at start: start() resolves with the cache file's map when there is one,
 *   else with an empty map (unknown hosts fall through to the next route); a warning says which.
 * - Redis lost while running: the copy stays as it is and no diff is emitted for the loss; the
 *   client reconnects with backoff, re-subscribes, then a full resync emits what really changed.
 * - Bad data is skipped and reported once; it never throws out of here.
 */
import type { Logger } from 'pino';

import { createLogger } from '../log/logger.js';
import { RedisLink, type LinkOptions } from './client.js';
import { escapeGlob, keyspacePattern, parseHost } from './keys.js';
import { HostMapFollower, Sequence } from './map-follower.js';
import { PoolFollower } from './pool-follower.js';
import { errorText, parseRedisUrl } from './redis-url.js';
import type {
  ConnectionState, HostMapListener, HostMapSettings, HostMapSourceStates, HostMapState, HostResolution, PoolSourceSettings,
  PoolSourceState, RedisSettings, WeightedServer,
} from './types.js';

export interface HostMapSourceOptions extends HostMapListener, LinkOptions {
  redis: RedisSettings;
  hostMaps?: readonly HostMapSettings[];
  pools?: readonly PoolSourceSettings[];
  logger?: Logger;
}


const POOL_MESSAGE = 'pool:';

export class HostMapSource {
  private readonly log: Logger;
  private readonly maps = new Map<string, HostMapFollower>();
  private readonly pools = new Map<string, PoolFollower>();
  private readonly link: RedisLink;
  private readonly seq = new Sequence();
  private started = false;
  private stopped = false;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: HostMapSourceOptions) {
    this.log = (options.logger ?? createLogger()).child({ component: 'hostmaps' });
    const url = parseRedisUrl(options.redis.url);
    if (!(options.redis.resyncMs >= 100 && Number.isFinite(options.redis.resyncMs))) {
      throw new Error(`redis.resyncMs must be a number of ms ≥ 100 (got ${String(options.redis.resyncMs)})`);
    }
    if (options.redis.channel === '') throw new Error('redis.channel must not be empty');
    const context = {
      seq: this.seq, log: this.log, url: options.redis.url,
      hostChanged: (map: string, host: string, servers: readonly string[] | null, before: readonly string[] | null) =>
        this.emitHost(map, host, servers, before),
    };
    for (const settings of options.hostMaps ?? []) {
      if (this.maps.has(settings.name)) throw new Error(`host map "${settings.name}" is defined twice`);
      this.maps.set(settings.name, new HostMapFollower(settings, context));
    }
    for (const settings of options.pools ?? []) {
      if (this.pools.has(settings.pool)) throw new Error(`pool "${settings.pool}" has two Redis sources`);
      const changed = (pool: string, servers: readonly WeightedServer[]) => this.emitPool(pool, servers);
      this.pools.set(settings.pool, new PoolFollower(settings, this.log, options.redis.url, changed));
    }
    // Built once the templates are known: their keyspace patterns are its subscriptions.
    this.link = new RedisLink(options.redis, this.keyspacePatterns(url.db), this.linkEvents(), this.log, options);
  }

  /**
   * Connects and loads every map and pool before resolving; the owner then reads the copy with
   * entries()/pool() (synchronously, before awaiting anything else) and hears changes as diffs.
   * Never rejects because Redis is down: see the failure rules above.
   */
  async start(): Promise<void> {
    if (this.started || this.stopped) throw new Error('HostMapSource.start() called twice');
    const up = await this.link.connect();
    if (up) await (this.syncing ?? this.requestResync());
    if (this.stopped) return;
    for (const map of this.maps.values()) {
      if (!map.synced) await this.fallBack(map, up);
    }
    for (const pool of this.pools.values()) {
      if (!pool.synced) {
        this.log.warn({ pool: pool.pool, key: pool.key, url: this.link.url.redacted, ...(this.link.error !== undefined && { error: this.link.error }) },
          'hostmaps: no members loaded from redis at start; the pool has none from redis until it answers');
      }
    }
    this.started = true;
    this.timer = setInterval(() => void this.requestResync(), this.options.redis.resyncMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.link.close();
    await this.syncing?.catch(() => undefined);
    for (const map of this.maps.values()) await map.flushCache();
  }

  /** A full resync now (coalesced with one under way); resolves when done, or at once while disconnected. */
  resync(): Promise<void> {
    return this.requestResync();
  }

  /** Where a request for `host` goes in `map`: exact entry, then `*.parent` wildcards. */
  resolve(map: string, host: string): HostResolution | undefined {
    const follower = this.maps.get(map);
    const parsed = parseHost(host);
    if (!follower || 'error' in parsed) return undefined;
    return follower.table.resolve(parsed.host);
  }

  /** The current copy of a map: normalized host → sorted servers. */
  entries(map: string): IterableIterator<[string, readonly string[]]> {
    const follower = this.maps.get(map);
    if (!follower) throw new Error(`no host map "${map}"`);
    return follower.table.entries();
  }

  /** One host's servers as stored (no wildcard walk); undefined when absent. */
  servers(map: string, host: string): readonly string[] | undefined {
    return this.maps.get(map)?.table.servers(host);
  }

  /** A Redis-backed pool's members, sorted by address. */
  pool(name: string): readonly WeightedServer[] | undefined {
    return this.pools.get(name)?.members;
  }

  get connection(): ConnectionState {
    return this.link.state;
  }

  state(map: string): HostMapState | undefined {
    return this.maps.get(map)?.state(this.link.state);
  }

  poolState(pool: string): PoolSourceState | undefined {
    return this.pools.get(pool)?.state(this.link.state);
  }

  states(): HostMapSourceStates {
    const c = this.link.state;
    return {
      maps: Object.fromEntries([...this.maps].map(([name, m]) => [name, m.state(c)])),
      pools: Object.fromEntries([...this.pools].map(([name, p]) => [name, p.state(c)])),
    };
  }

  private keyspacePatterns(db: number): string[] {
    const maps = [...this.maps.values()].map((m) => keyspacePattern(db, m.template.match));
    const pools = [...this.pools.values()].map((p) => keyspacePattern(db, escapeGlob(p.key)));
    return [...new Set([...maps, ...pools])];
  }

  private linkEvents(): ConstructorParameters<typeof RedisLink>[2] {
    return {
      up: () => void this.requestResync(),
      state: (next, previous, lastError) => this.logState(next, previous, lastError),
      message: (text) => void this.onMessage(text),
      keyspace: (key) => void this.onKeyspace(key),
    };
  }

  private requestResync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = this.runSyncs().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async runSyncs(): Promise<void> {
    do {
      this.syncAgain = false;
      if (this.stopped || !this.link.isUp) return;
      await this.syncAll();
    } while (this.syncAgain);
  }

  /** Every map then every pool, one at a time (one SCAN at a time on the server). */
  private async syncAll(): Promise<void> {
    const redis = this.link.command;
    for (const map of this.maps.values()) {
      try {
        await map.fullSync(redis);
      } catch (err) {
        this.syncFailed(map, err, { map: map.name });
      }
    }
    for (const pool of this.pools.values()) {
      try {
        await pool.sync(redis, true);
      } catch (err) {
        this.syncFailed(pool, err, { pool: pool.pool });
      }
    }
  }

  private syncFailed(target: { noteSyncError(err: unknown): void }, err: unknown, who: Record<string, string>): void {
    if (this.stopped) return;
    target.noteSyncError(err);
    // While disconnected every read fails; the state change already said so, once.
    if (this.link.isUp) this.log.warn({ ...who, url: this.link.url.redacted, error: errorText(err, this.options.redis.url) }, 'hostmaps: sync failed');
  }

  /** No successful load at start: the cache file, else an empty map, and a warning saying which. */
  private async fallBack(map: HostMapFollower, connected: boolean): Promise<void> {
    map.reset();
    const fields = { map: map.name, url: this.link.url.redacted, ...(this.link.error !== undefined && { error: this.link.error }) };
    const why = connected ? 'the initial load from redis failed' : 'redis is unreachable at start';
    const cached = await map.loadCache();
    if (cached && 'hosts' in cached) {
      this.log.warn({ ...fields, cacheFile: map.settings.cacheFile, hosts: cached.hosts, savedAt: cached.savedAt },
        `hostmaps: ${why}; routing by the cache file until redis answers`);
      return;
    }
    if (cached) this.log.warn({ ...fields, cacheFile: map.settings.cacheFile, reason: cached.error }, 'hostmaps: cache file not used');
    this.log.warn(fields, `hostmaps: ${why}; the map is empty, unknown hosts fall through to the next route until redis answers`);
  }

  private async onMessage(text: string): Promise<void> {
    if (!this.link.isUp) return;
    const redis = this.link.command;
    try {
      if (text.startsWith(POOL_MESSAGE)) {
        await this.pools.get(text.slice(POOL_MESSAGE.length))?.sync(redis, false);
        return;
      }
      await Promise.all([...this.maps.values()].map((map) => map.onMessage(redis, text)));
    } catch (err) {
      this.readFailed(err, text);
    }
  }

  private async onKeyspace(key: string): Promise<void> {
    if (!this.link.isUp) return;
    const redis = this.link.command;
    try {
      await Promise.all([...this.maps.values()].map((map) => map.onKeyspace(redis, key)));
      for (const pool of this.pools.values()) if (pool.key === key) await pool.sync(redis, false);
    } catch (err) {
      this.readFailed(err, key);
    }
  }

  /** A re-read failed: the periodic resync will catch up; counted only while connected. */
  private readFailed(err: unknown, what: string): void {
    if (this.stopped || !this.link.isUp) return;
    for (const map of this.maps.values()) map.noteSyncError(err);
    this.log.warn({ change: what, url: this.link.url.redacted, error: errorText(err, this.options.redis.url) }, 'hostmaps: re-read after a change failed');
  }

  private logState(next: ConnectionState, previous: ConnectionState, lastError: string | undefined): void {
    const base = { url: this.link.url.redacted, from: previous, to: next, ...(lastError !== undefined && next !== 'connected' && { error: lastError }) };
    for (const name of this.maps.keys()) this.log.warn({ ...base, map: name }, `hostmaps: redis ${next}`);
    for (const name of this.pools.keys()) this.log.warn({ ...base, pool: name }, `hostmaps: redis ${next}`);
  }

  private emitHost(map: string, host: string, servers: readonly string[] | null, before: readonly string[] | null): void {
    if (!this.started || !this.options.onHost) return;
    try {
      this.options.onHost(map, host, servers, before);
    } catch (err) {
      this.log.error({ map, host, error: errorText(err, this.options.redis.url) }, 'hostmaps: onHost threw');
    }
  }

  private emitPool(pool: string, servers: readonly WeightedServer[]): void {
    if (!this.started || !this.options.onPool) return;
    try {
      this.options.onPool(pool, servers);
    } catch (err) {
      this.log.error({ pool, error: errorText(err, this.options.redis.url) }, 'hostmaps: onPool threw');
    }
  }
}
