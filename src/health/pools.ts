/**
 * Runs the active health checks of every pool that has some: one ActiveHealthChecker per pool,
 * kept in step with the pools' configs and servers (servers in maintenance are not checked).
 */
import type { Logger } from 'pino';

import type { PoolModel } from '../pools.js';
import { ActiveHealthChecker, type CheckStatus, type HealthChange } from './active.js';

export class PoolHealthChecks {
  readonly #checkers = new Map<string, { checker: ActiveHealthChecker; check: string }>();
  readonly #logger: Logger;
  readonly #onChange: (change: HealthChange) => void;

  constructor(logger: Logger, onChange: (change: HealthChange) => void) {
    this.#logger = logger;
    this.#onChange = onChange;
  }

  /** Starts, updates or stops checks after a change of config, servers or maintenance. */
  sync(pools: Iterable<PoolModel>): void {
    const checked = new Set<string>();
    for (const pool of pools) {
      const check = pool.config.health;
      if (!check) continue;
      checked.add(pool.name);
      const key = JSON.stringify(check);
      let entry = this.#checkers.get(pool.name);
      if (!entry) {
        const checker = new ActiveHealthChecker({ pool: pool.name, check, logger: this.#logger, onChange: this.#onChange });
        entry = { checker, check: key };
        this.#checkers.set(pool.name, entry);
      } else if (entry.check !== key) {
        // Only a real change: setCheck reschedules waiting checks.
        entry.checker.setCheck(check);
        entry.check = key;
      }
      entry.checker.setServers(
        pool.servers.filter((s) => s.admin !== 'maint').map((s) => ({ address: s.address, proxyProtocol: s.proxyProtocol })),
      );
    }
    for (const [name, entry] of this.#checkers) {
      if (checked.has(name)) continue;
      entry.checker.stop();
      this.#checkers.delete(name);
    }
  }

  /** The checks' view of one server; undefined when its pool has no checks or it is not checked. */
  status(pool: string, address: string): CheckStatus | undefined {
    return this.#checkers.get(pool)?.checker.status(address);
  }

  stop(): void {
    for (const entry of this.#checkers.values()) entry.checker.stop();
    this.#checkers.clear();
  }
}
