/**
 * Shared routing in Redis: the meaning checks and defaults of `redis`, `hostMaps`, routes that
 * name a host map, and pools whose servers live in Redis. A host map's servers are shown and
 * balanced as a pool named after the map (its `source` says so), so the map's name must not be
 * a pool's.
 */
import { compileTemplate } from '../hostmaps/keys.js';
import { parseRedisUrl } from '../hostmaps/redis-url.js';
import { checkHealth } from './health-config.js';
import { formatPath, type HealthView } from './schema.js';
import type { ConfigIssue } from './types.js';
import type { ResolvedHostMap, ResolvedRedis } from './resolved.js';

export const DEFAULT_CHANNEL = 'epoxy:changes';
export const DEFAULT_RESYNC_MS = 30_000;
export const DEFAULT_HOST_KEY = 'epoxy:host:{host}';

const MAP_NAME = /^[A-Za-z0-9_.-]+$/;

type Record_ = Record<string, unknown>;

/** What the route checks need to know about the config's host maps. */
export interface HostMapNames {
  maps: string[];
  unknown(name: string): string;
}

/**
 * `redis.url` must parse; `hostMaps` and `{ redis }` pools need `redis`; each map's name is a
 * valid name and no pool's; its key template holds `{host}` once; its pool's health check makes
 * sense. `healthView` gives the well-formed fields of a health object (schema.ts).
 */
export function checkSharedRouting(
  input: Record_,
  poolNames: string[],
  healthView: (raw: unknown) => HealthView | undefined,
  issues: ConfigIssue[],
): HostMapNames {
  const redis = input['redis'];
  if (isRecord(redis) && typeof redis['url'] === 'string' && redis['url'] !== '') {
    try {
      parseRedisUrl(redis['url']);
    } catch (err) {
      issues.push({ path: 'redis.url', message: (err as Error).message });
    }
  }
  const hasRedis = isRecord(redis);
  const maps = isRecord(input['hostMaps']) ? Object.entries(input['hostMaps']) : [];
  if (maps.length > 0 && !hasRedis) {
    issues.push({ path: 'hostMaps', message: 'needs redis: { url: "redis://…" } (host maps live in Redis)' });
  }
  for (const [name, raw] of maps) {
    const path = formatPath(['hostMaps', name]);
    if (!MAP_NAME.test(name)) {
      issues.push({ path, message: `host map name "${name}" may only contain letters, digits, "_", "." and "-"` });
    } else if (poolNames.includes(name)) {
      issues.push({ path, message: `host map "${name}" has the name of a pool: its servers are shown as a pool named after it, so pick another name` });
    }
    if (!isRecord(raw)) continue;
    if (typeof raw['key'] === 'string' && raw['key'] !== '') {
      try {
        compileTemplate(raw['key']);
      } catch (err) {
        issues.push({ path: `${path}.key`, message: (err as Error).message });
      }
    }
    const pool = raw['pool'];
    if (isRecord(pool)) {
      const health = healthView(pool['health']);
      if (health) checkHealth(`${path}.pool.health`, health, issues);
    }
  }
  if (isRecord(input['pools'])) {
    for (const [name, raw] of Object.entries(input['pools'])) {
      if (!isRecord(raw) || !isRecord(raw['servers']) || hasRedis) continue;
      issues.push({ path: formatPath(['pools', name, 'servers']), message: 'needs redis: { url: "redis://…" } (these servers live in Redis)' });
    }
  }
  const names = maps.map(([name]) => name);
  return {
    maps: names,
    unknown: (name) =>
      names.length === 0 ? `unknown host map "${name}" (no hostMaps are defined)` : `unknown host map "${name}" (host maps are: ${names.join(', ')})`,
  };
}

/**
 * A route takes `pool` or `hostMap`, one of them. Returns false when the route names neither or
 * both (reported), so the caller skips its pool check.
 */
export function checkRouteTarget(at: string, route: Record_, maps: HostMapNames, issues: ConfigIssue[]): boolean {
  const hasPool = route['pool'] !== undefined;
  const hasMap = route['hostMap'] !== undefined;
  if (hasPool && hasMap) {
    issues.push({ path: `${at}.hostMap`, message: 'a route takes either pool or hostMap, not both' });
    return false;
  }
  if (!hasPool && !hasMap) {
    issues.push({ path: `${at}.pool`, message: 'is required (the name of a pool), or give hostMap' });
    return false;
  }
  const map = route['hostMap'];
  if (typeof map === 'string' && !maps.maps.includes(map)) issues.push({ path: `${at}.hostMap`, message: maps.unknown(map) });
  return hasPool;
}

/** A `{ hostMap }` route also matches by host (or SNI), so a `host`/`sni` beside it is refused. */
export function checkHostMapRoute(at: string, route: Record_, field: 'host' | 'sni', issues: ConfigIssue[]): void {
  if (route['hostMap'] !== undefined && route[field] !== undefined) {
    issues.push({ path: `${at}.${field}`, message: `a hostMap route matches the ${field === 'host' ? 'Host' : 'SNI'} by the map: leave ${field} out` });
  }
}

export interface ParsedRedis {
  url: string;
  channel?: string | undefined;
  resyncMs?: number | undefined;
}

export function resolveRedis(r: ParsedRedis): ResolvedRedis {
  return { url: r.url, channel: r.channel ?? DEFAULT_CHANNEL, resyncMs: r.resyncMs ?? DEFAULT_RESYNC_MS };
}

export interface ParsedHostMap {
  key?: string | undefined;
  format?: 'set' | 'hipache' | undefined;
  balance?: 'roundrobin' | 'leastconn' | 'p2c' | undefined;
  cacheFile?: string | undefined;
}

export function resolveHostMap(name: string, m: ParsedHostMap): ResolvedHostMap {
  const map: ResolvedHostMap = {
    name,
    key: m.key ?? DEFAULT_HOST_KEY,
    format: m.format ?? 'set',
    balance: m.balance ?? 'roundrobin',
  };
  if (m.cacheFile !== undefined) map.cacheFile = m.cacheFile;
  return map;
}

function isRecord(value: unknown): value is Record_ {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
