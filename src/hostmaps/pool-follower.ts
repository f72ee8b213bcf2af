/**
 * One pool whose members live in a Redis key (a SET of ip:port, or a HASH ip:port → weight).
 * The key is read atomically with its type; a changed member list goes to the owner as a diff.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { readPoolKey, type PoolRead } from './loader.js';
import { OnceLog } from './once.js';
import { parsePoolHash, parsePoolSet, sameWeighted } from './parse.js';
import { errorText } from './redis-url.js';
import type { ConnectionState, PoolSourceSettings, PoolSourceState, WeightedServer } from './types.js';

export class PoolFollower {
  readonly pool: string;
  readonly key: string;
  private servers: readonly WeightedServer[] = [];
  private readonly once: OnceLog;
  private lastSyncAt: number | undefined;
  private syncErrors = 0;
  private lastError: string | undefined;

  constructor(
    settings: PoolSourceSettings,
    log: Logger,
    private readonly url: string,
    private readonly changed: (pool: string, servers: readonly WeightedServer[]) => void,
  ) {
    this.pool = settings.pool;
    this.key = settings.key;
    this.once = new OnceLog(log);
  }

  get synced(): boolean {
    return this.lastSyncAt !== undefined;
  }

  get members(): readonly WeightedServer[] {
    return this.servers;
  }

  /** Reads the key and applies it. `full` marks a full sync (sets lastSyncAt); throws on a Redis error. */
  async sync(redis: Redis, full: boolean): Promise<void> {
    const read = await readPoolKey(redis, this.key);
    if (read.kind === 'error') throw read.error;
    this.apply(read);
    if (full) this.lastSyncAt = Date.now();
  }

  noteSyncError(err: unknown): void {
    this.syncErrors += 1;
    this.lastError = errorText(err, this.url);
  }

  state(connection: ConnectionState): PoolSourceState {
    return {
      connection,
      servers: this.servers.length,
      ...(this.lastSyncAt !== undefined && { lastSyncAt: this.lastSyncAt }),
      syncErrors: this.syncErrors,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
    };
  }

  private apply(read: Exclude<PoolRead, { kind: 'error' }>): void {
    if (read.kind === 'wrongtype') {
      this.once.warn(`wrongtype\0${this.key}`, { pool: this.pool, key: this.key, type: read.type },
        'hostmaps: pool key is neither a SET nor a HASH; skipped (the pool keeps its last members)');
      return;
    }
    const parsed = read.kind === 'absent' ? { servers: [], invalid: [] }
      : read.kind === 'set' ? parsePoolSet(read.members) : parsePoolHash(read.fields);
    for (const bad of parsed.invalid) {
      this.once.warn(`entry\0${bad.entry}`, { pool: this.pool, key: this.key, entry: bad.entry, why: bad.why }, 'hostmaps: invalid pool member skipped');
    }
    if (sameWeighted(this.servers, parsed.servers)) return;
    this.servers = parsed.servers;
    this.changed(this.pool, parsed.servers);
  }
}
