/**
 * What a reload changed (for its log line) and what it may not change in a running proxy: the
 * engine's threads and CPUs, and the shared routing's Redis server, host maps and Redis-backed
 * pools. A reload that would change one is refused with the field named.
 */
import type { ConfigIssue, ResolvedConfig } from './config/types.js';

/** What a reload changed, for its log line. */
export function reloadSummary(before: ResolvedConfig, after: ResolvedConfig): Record<string, string[]> {
  const diff = (a: string[], b: string[]) => b.filter((x) => !a.includes(x));
  const listeners = (c: ResolvedConfig) => c.listeners.map((l) => `${l.name}@${l.bind}`);
  const servers = (c: ResolvedConfig) => c.pools.flatMap((p) => p.servers.map((s) => `${p.name}/${s.address}`));
  const pools = (c: ResolvedConfig) => c.pools.map((p) => p.name);
  return {
    listenersAdded: diff(listeners(before), listeners(after)),
    listenersRemoved: diff(listeners(after), listeners(before)),
    poolsAdded: diff(pools(before), pools(after)),
    poolsRemoved: diff(pools(after), pools(before)),
    serversAdded: diff(servers(before), servers(after)),
    serversRemoved: diff(servers(after), servers(before)),
  };
}

/** What a reload cannot change in a running engine: the threads it runs on. */
function threadIssues(running: ResolvedConfig, next: ResolvedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (next.engine.threads !== running.engine.threads) {
    issues.push({
      path: 'engine.threads',
      message: `cannot change from ${running.engine.threads} to ${next.engine.threads} threads in a running proxy (restart it)`,
    });
  }
  if (next.engine.cpus.join(',') !== running.engine.cpus.join(',')) {
    issues.push({
      path: 'engine.cpus',
      message: `cannot change from [${running.engine.cpus.join(', ')}] to [${next.engine.cpus.join(', ')}] in a running proxy (restart it)`,
    });
  }
  return issues;
}

/**
 * What a reload cannot change in the shared routing: the Redis server, the host maps (names,
 * keys, formats, cache files) and which pools live in Redis — the copy a running proxy follows
 * was loaded from them. A map's balance and pool settings may change.
 */
function sharedRoutingIssues(running: ResolvedConfig, next: ResolvedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const redisOf = (c: ResolvedConfig) => JSON.stringify(c.redis ?? null);
  if (redisOf(running) !== redisOf(next)) issues.push({ path: 'redis', message: 'cannot change in a running proxy (restart it)' });
  const mapsOf = (c: ResolvedConfig) => JSON.stringify(c.hostMaps.map(({ name, key, format, cacheFile }) => [name, key, format, cacheFile ?? null]));
  if (mapsOf(running) !== mapsOf(next)) {
    issues.push({ path: 'hostMaps', message: 'host maps (names, keys, formats, cache files) cannot change in a running proxy (restart it); balance and pool settings can' });
  }
  const redisPools = (c: ResolvedConfig) =>
    JSON.stringify(c.pools.flatMap((p) => (p.source && 'redis' in p.source ? [[p.name, p.source.redis]] : [])));
  if (redisPools(running) !== redisPools(next)) {
    issues.push({ path: 'pools', message: 'which pools keep their servers in Redis, and their keys, cannot change in a running proxy (restart it)' });
  }
  return issues;
}

/** Every reason `next` cannot replace `running` without a restart. */
export function restartOnlyIssues(running: ResolvedConfig, next: ResolvedConfig): ConfigIssue[] {
  return [...threadIssues(running, next), ...sharedRoutingIssues(running, next)];
}
