/**
 * What the admin server needs of a running proxy, and nothing more. Proxy builds one for its
 * admin server; the admin code never sees the proxy's fields, and the runtime API goes through
 * the same PoolHandle as `proxy.pool(name)` (one implementation of every change).
 */
import type { ResolvedConfig } from '../config/types.js';
import type { CheckStatus } from '../health/active.js';
import type { PoolHandle } from '../proxy.js';
import type { ProxyStats } from '../stats.js';

export interface AdminHost {
  /** One read of the engine's counters (proxy.stats()). */
  stats(): Promise<ProxyStats>;
  /** The config in force (after the last successful reload). */
  config(): ResolvedConfig;
  /** proxy.pool(name); throws for an unknown pool. */
  pool(name: string): PoolHandle;
  /**
   * The active health checks' view of one server (`address` as the pool lists it), or undefined
   * when its pool has no checks or the server is not checked (maintenance).
   */
  checkStatus(pool: string, address: string): CheckStatus | undefined;
  /**
   * Reloads from where the running config came from (`epoxy run`: its file again); rejects with
   * a ConfigError for an invalid config. Undefined when the proxy was started from code without
   * a source to reload.
   */
  readonly reload: (() => Promise<void>) | undefined;
  /** Date.now() when the proxy started. */
  readonly startedAt: number;
  /**
   * Where this instance sends `host` in host map `map` now: the entry that matched (exact or
   * `*.parent`) and its servers, or no entry (the request goes on to the next route). Undefined
   * for an unknown map.
   */
  hostMap(map: string, host: string): HostMapAnswer | undefined;
}

export interface HostMapAnswer {
  map: string;
  /** Normalized: lowercase, no port, no trailing dot. */
  host: string;
  /** The matching entry, or null: no entry, the next route decides. */
  entry: string | null;
  servers: Array<{ address: string; state: string }>;
  /** The Redis link the map follows: connected, connecting, reconnecting or unreachable. */
  connection: string;
}
