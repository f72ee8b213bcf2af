/**
 * One host map kept in step with Redis: full syncs (SCAN + pipelined reads), single-key re-reads
 * on a change message or keyspace notification, the cache file, and the map's state. Bad data is
 * skipped here and reported once; the table (table.ts) decides what changed.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { CacheWriter, CACHE_VERSION, readCache, type CacheContent } from './cache.js';
import { compileTemplate, keyOf, parseHost, rawHostOf, type KeyTemplate } from './keys.js';
import { readHostKey, readHostKeys, scanPages, type KeyRead } from './loader.js';
import { OnceLog } from './once.js';
import { parseHipacheList, parseSetMembers } from './parse.js';
import { errorText } from './redis-url.js';
import { HostTable } from './table.js';
import type { ConnectionState, HostMapSettings, HostMapState } from './types.js';

/** Read order over the one command connection; shared by every follower of a source. */
export class Sequence {
  private n = 0;
  next(): number {
    return ++this.n;
  }
}

export interface FollowerContext {
  seq: Sequence;
  log: Logger;
  /** The raw Redis URL, only to scrub its password out of error messages. */
  url: string;
  /** A host's servers changed (null: removed). The source decides whether the owner hears it. */
  hostChanged(map: string, host: string, servers: readonly string[] | null, before: readonly string[] | null): void;
}

export class HostMapFollower {
  readonly name: string;
  readonly template: KeyTemplate;
  readonly table: HostTable;
  private readonly once: OnceLog;
  private readonly cache: CacheWriter | undefined;
  /** A change since the cache file was last written. */
  private dirty = false;
  private cacheWritten = false;
  private lastSyncAt: number | undefined;
  private syncErrors = 0;
  private lastError: string | undefined;
  private fromCache = false;

  constructor(
    readonly settings: HostMapSettings,
    private readonly ctx: FollowerContext,
  ) {
    this.name = settings.name;
    this.template = compileTemplate(settings.key);
    this.once = new OnceLog(ctx.log);
    this.table = new HostTable(this.name, this.template, this.once, (host, servers, before) => {
      this.dirty = true;
      ctx.hostChanged(this.name, host, servers, before);
    });
    if (settings.cacheFile !== undefined) {
      const file = settings.cacheFile;
      this.cache = new CacheWriter(file, () => this.cacheContent(), (err) => {
        ctx.log.warn({ map: this.name, cacheFile: file, error: errorText(err, ctx.url) }, 'hostmaps: cannot write the cache file');
      });
    }
  }

  /**
   * SCAN over the template and read every key; then remove the keys the SCAN did not return and
   * no read touched since it began. Throws when Redis fails mid-way: nothing is removed then.
   */
  async fullSync(redis: Redis): Promise<void> {
    const start = this.ctx.seq.next();
    await scanPages(redis, this.template.match, async (keys) => {
      const seq = this.ctx.seq.next();
      const reads = await readHostKeys(redis, keys, this.settings.format);
      keys.forEach((key, i) => {
        this.table.touch(key, seq);
        const read = reads[i];
        if (read) this.applyRead(key, read, seq);
      });
    });
    this.table.removeUnseen(start);
    this.lastSyncAt = Date.now();
    this.fromCache = false;
    // Only when something changed (and once at first): at 100,000 hosts a write costs the main
    // thread ~0.25 s of JSON work, too much to repeat every resyncMs for nothing.
    if (this.cache && (this.dirty || !this.cacheWritten)) await this.cache.writeNow();
  }

  /** True once a full sync with Redis succeeded. */
  get synced(): boolean {
    return this.lastSyncAt !== undefined;
  }

  /** A change message: the host as published, and every key that feeds its normalized form. */
  async onMessage(redis: Redis, message: string): Promise<void> {
    const parsed = parseHost(message);
    if ('error' in parsed) return;
    const keys = new Set([keyOf(this.template, parsed.host), ...this.table.keysOf(parsed.host)]);
    if (message !== parsed.host) keys.add(keyOf(this.template, message));
    await this.reread(redis, [...keys]);
  }

  /** A keyspace notification for `key`, if it is one of this map's. */
  async onKeyspace(redis: Redis, key: string): Promise<void> {
    if (rawHostOf(this.template, key) !== undefined) await this.reread(redis, [key]);
  }

  /** Replaces the copy with the cache file's content. Returns the error when it cannot. */
  async loadCache(): Promise<{ hosts: number; savedAt: number } | { error: string } | undefined> {
    const file = this.settings.cacheFile;
    if (file === undefined) return undefined;
    const cached = await readCache(file, { map: this.name, key: this.settings.key, format: this.settings.format });
    if ('error' in cached) return cached;
    this.table.clear();
    for (const [key, servers] of cached.entries) {
      const host = this.hostOf(key);
      if (host !== undefined) this.table.apply(key, host, servers, 0);
    }
    this.fromCache = true;
    return { hosts: this.table.size, savedAt: cached.savedAt };
  }

  /** A failed initial load: forget the partial copy. */
  reset(): void {
    this.table.clear();
  }

  noteSyncError(err: unknown): void {
    this.syncErrors += 1;
    this.lastError = errorText(err, this.ctx.url);
  }

  async flushCache(): Promise<void> {
    await this.cache?.flush();
  }

  state(connection: ConnectionState): HostMapState {
    return {
      connection,
      hosts: this.table.size,
      ...(this.lastSyncAt !== undefined && { lastSyncAt: this.lastSyncAt }),
      syncErrors: this.syncErrors,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      fromCache: this.fromCache,
    };
  }

  private async reread(redis: Redis, keys: string[]): Promise<void> {
    const seq = this.ctx.seq.next();
    const reads = keys.length === 1 && keys[0] !== undefined
      ? [await readHostKey(redis, keys[0], this.settings.format)]
      : await readHostKeys(redis, keys, this.settings.format);
    keys.forEach((key, i) => {
      const read = reads[i];
      if (read) this.applyRead(key, read, seq);
    });
    if (this.dirty) this.cache?.schedule();
  }

  private applyRead(key: string, read: KeyRead, seq: number): void {
    const host = this.hostOf(key);
    if (host === undefined) return;
    if (read.kind === 'error') {
      this.noteSyncError(read.error);
      return;
    }
    if (read.kind === 'wrongtype') {
      const want = this.settings.format === 'set' ? 'a SET' : 'a LIST';
      this.once.warn(`wrongtype\0${key}`, { map: this.name, key }, `hostmaps: key is not ${want}; skipped (a known host keeps its last servers)`);
      return;
    }
    if (read.values.length === 0) {
      this.table.apply(key, host, null, seq);
      return;
    }
    const parsed = this.settings.format === 'set' ? parseSetMembers(read.values) : parseHipacheList(read.values);
    for (const bad of parsed.invalid) {
      this.once.warn(`entry\0${key}\0${bad.entry}`, { map: this.name, key, entry: bad.entry, why: bad.why }, 'hostmaps: invalid entry skipped');
    }
    this.table.apply(key, host, parsed.servers, seq);
  }

  /** The normalized host of a key, or undefined (reported once) when its host part is not a host name. */
  private hostOf(key: string): string | undefined {
    const raw = rawHostOf(this.template, key);
    if (raw === undefined) return undefined;
    const parsed = parseHost(raw);
    if ('host' in parsed) return parsed.host;
    this.once.warn(`badkey\0${key}`, { map: this.name, key, why: parsed.error }, 'hostmaps: key skipped, its host part is not a host name');
    return undefined;
  }

  private cacheContent(): CacheContent {
    this.dirty = false;
    this.cacheWritten = true;
    return {
      version: CACHE_VERSION,
      map: this.name,
      key: this.settings.key,
      format: this.settings.format,
      savedAt: Date.now(),
      entries: Object.fromEntries([...this.table.winningKeys()].map(([key, servers]) => [key, [...servers]])),
    };
  }
}
