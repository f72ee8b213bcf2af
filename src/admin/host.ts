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
}
