/**
 * Types of the Redis-backed host maps and pool memberships: the settings the config layer builds
 * (plain objects, defaults already applied), the state the admin endpoint shows, and the diffs
 * handed to the owner. Readable without the implementation (source.ts).
 */

/** One Redis server shared by every host map and pool source of an epoxy instance. */
export interface RedisSettings {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). The password is never logged. */
  url: string;
  /** The pub/sub channel writers publish a changed host (or `pool:<name>`) to. Default 'epoxy:changes'. */
  channel: string;
  /** Period of the full resync, the safety net behind pub/sub and keyspace notifications. Default 30000. */
  resyncMs: number;
}

export type HostMapFormat = 'set' | 'hipache';

export interface HostMapSettings {
  name: string;
  /** Key template with exactly one `{host}`, e.g. 'hostnames:{host}:backends'. Default 'epoxy:host:{host}'. */
  key: string;
  /** 'set': a SET of `ip:port`; 'hipache': a LIST `[identifier, 'http://ip:port', …]`. */
  format: HostMapFormat;
  /** The last known map, written atomically after each sync; read when Redis is down at start. */
  cacheFile?: string;
}

/** A pool whose members live in one Redis key: a SET of `ip:port`, or a HASH `ip:port` → weight 1..256. */
export interface PoolSourceSettings {
  pool: string;
  key: string;
}

/** A pool member as read from Redis (weight 1 for SET members). */
export interface WeightedServer {
  address: string;
  weight: number;
}

/**
 * connecting: the first attempt is under way; connected: commands and subscriptions work;
 * reconnecting: it was connected and the link was lost; unreachable: never connected since
 * start (start() resolved from the cache or empty). Both last two keep retrying with backoff.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'unreachable';

export interface HostMapState {
  connection: ConnectionState;
  /** Hosts in the in-memory copy (after duplicate resolution). */
  hosts: number;
  /** When the last full sync of this map succeeded (ms since the epoch). */
  lastSyncAt?: number;
  /** Failed full syncs and failed single-key reads while connected, since start. */
  syncErrors: number;
  /** The last error, password removed. */
  lastError?: string;
  /** True while the copy comes from cacheFile and no sync with Redis succeeded yet. */
  fromCache: boolean;
}

export interface PoolSourceState {
  connection: ConnectionState;
  /** Members in the in-memory copy. */
  servers: number;
  lastSyncAt?: number;
  syncErrors: number;
  lastError?: string;
}

/** What `resolve(map, host)` says about a request's host. */
export interface HostResolution {
  /** The request's host, normalized (lowercase, no port, no trailing dot). */
  host: string;
  /** The entry that matched: the host itself, or a `*.parent` wildcard. */
  entry: string;
  /** Sorted, deduplicated; may be empty (a key with no valid entry). */
  servers: readonly string[];
}

/**
 * The owner's side. Called only for real changes after start() resolved (the initial copy is
 * read with entries()); server lists are sorted and deduplicated. A callback that throws is
 * logged and does not stop the sync.
 */
export interface HostMapListener {
  /** servers null: the host is gone from the map; before null: the host is new. */
  onHost?(map: string, host: string, servers: readonly string[] | null, before: readonly string[] | null): void;
  /** servers empty: the key is gone or holds no valid member. */
  onPool?(pool: string, servers: readonly WeightedServer[]): void;
}

/** Every map's and Redis-backed pool's state, by name. */
export interface HostMapSourceStates {
  maps: Record<string, HostMapState>;
  pools: Record<string, PoolSourceState>;
}
