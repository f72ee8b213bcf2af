/**
 * GET /stats: the engine's counters arranged for people and dashboards. Every listener, pool and
 * server with its state, sessions, requests, responses, bytes, errors, queue, health and latency
 * percentiles since start and over the last minute (see latency.ts for how they are computed,
 * latency-window.ts for the window).
 */
import type { CheckStatus } from '../health/active.js';
import type { HostMapStats, LatencyHistogram, RedisPoolStats, ListenerStats, PoolStats, ProxyStats, ServerStateName, ServerStats, ThreadStats, TrafficStats } from '../stats.js';
import { epoxyVersion } from '../version.js';
import type { AdminHost } from './host.js';
import { summarize, type LatencySummary } from './latency.js';
import { listenerKey, serverKey, type LatencyWindows } from './latency-window.js';

export interface Bytes {
  in: number;
  out: number;
  /** Moved with splice() (zero-copy), both directions. */
  spliced: number;
  /** Moved through a userspace buffer, both directions. */
  copied: number;
}

export interface ListenerView {
  name: string;
  bind: string;
  mode: 'tcp' | 'http' | 'unknown';
  /** `paused`: not accepting for 100 ms after an accept() failure such as EMFILE. */
  state: 'open' | 'paused';
  /** Connections: open now, accepted since start, most at once (0: no limit). */
  sessions: { current: number; total: number; max: number };
  acceptErrors: number;
  /** HTTP requests received. */
  requests: { total: number };
  /** HTTP responses sent by status class; `none`: requests that ended without one. */
  responses: ListenerStats['responses'];
  bytes: Bytes;
  /** HTTP: a request's first byte to its end, since start. */
  latency: LatencySummary;
  /** The same over the last admin.latencyWindowMs. */
  recentLatency: RecentLatency;
  /** `acceptProxy`: how the connections' PROXY headers went. */
  proxy: ListenerStats['proxy'];
  /** TCP listeners routed by SNI/ALPN: what the connections began with. */
  tls: ListenerStats['tls'];
}

/** Latencies counted in the last `windowMs` (shorter than admin.latencyWindowMs early in a run). */
export interface RecentLatency extends LatencySummary {
  windowMs: number;
}

export interface ServerView {
  address: string;
  state: ServerStateName;
  weight: number;
  /** 0: no limit. */
  maxconn: number;
  /** Sessions (TCP connections, HTTP requests in flight): now, and since start. */
  sessions: { current: number; total: number };
  requests: { total: number };
  responses: { '5xx': number };
  bytes: Bytes;
  connectFailures: number;
  /** Connections the server reset or cut, invalid responses, server timeouts. */
  resets: number;
  idleConnections: number;
  health: {
    /** null when the pool has no active checks or the server is in maintenance. */
    check: CheckView | null;
    /** Passive health: ejected now, and how often so far. */
    passive: { ejected: boolean; ejections: number };
  };
  /** HTTP: request head sent to response head received, since start. */
  latency: LatencySummary;
  /** The same over the last admin.latencyWindowMs. */
  recentLatency: RecentLatency;
}

export interface CheckView {
  up: boolean;
  /** null before the first check finished; `at` is an ISO time. */
  lastCheck: { at: string; ok: boolean; reason: string; durationMs: number } | null;
  consecutiveOk: number;
  consecutiveFailed: number;
}

export interface PoolView {
  name: string;
  /** `up` while some server takes new sessions, else `down`. */
  state: 'up' | 'down';
  sessions: { current: number; total: number };
  /** The sum over the servers listed now. */
  requests: { total: number };
  /** Sessions closed because no server could be reached. */
  noServer: number;
  /** New attempts after a failed connect, or after a server dropped a request unanswered. */
  retries: number;
  queue: { length: number; total: number; timeouts: number; full: number };
  servers: ServerView[];
}

export interface StatsView {
  version: string;
  uptimeMs: number;
  listeners: ListenerView[];
  pools: PoolView[];
  totals: {
    sessions: { current: number; total: number };
    requests: { total: number };
    responses: ListenerStats['responses'];
    /** Sessions cut short (client or server gone, timeouts). */
    aborts: number;
    bytes: { spliced: number; copied: number };
    selectTimeouts: number;
    logsSuppressed: number;
    logsDropped: number;
    /** Engine loop turns (wake-ups) and the turns that paused to gather events (engine.coalesceUs). */
    loop: { turns: number; coalescePauses: number; coalescedEvents: number };
  };
  /** One entry per engine thread (engine.threads): the totals above are their sums. */
  threads: ThreadStats[];
  /** Per host map: hosts, lookups, and the state of its copy of Redis (connection, last sync, errors). */
  hostMaps: HostMapStats[];
  /** Per pool whose servers live in Redis. */
  redisPools: RedisPoolStats[];
}

/** The view of one stats read; `now` is Date.now(). */
export function buildView(
  stats: ProxyStats,
  host: Pick<AdminHost, 'config' | 'checkStatus' | 'startedAt'>,
  windows: LatencyWindows,
  now: number,
): StatsView {
  const bounds = stats.latencyBoundsMs;
  const recent = (key: string, h: LatencyHistogram): RecentLatency => {
    const r = windows.recent(key, h, now);
    return { windowMs: r.windowMs, ...summarize(r.histogram, bounds) };
  };
  const modes = new Map(host.config().listeners.map((l) => [l.name, l.mode]));
  const listeners = stats.listeners.map((l) =>
    listenerView(l, modes.get(l.name) ?? 'unknown', bounds, recent(listenerKey(l.name), l.totalMs)),
  );
  const pools = stats.pools.map((p) =>
    poolView(p, bounds, {
      check: (address) => host.checkStatus(p.name, address),
      recent: (s) => recent(serverKey(p.name, s.address), s.responseMs),
    }),
  );
  const responses = { none: 0, '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const l of stats.listeners) for (const k of Object.keys(responses) as Array<keyof typeof responses>) responses[k] += l.responses[k];
  const t = stats.totals;
  return {
    version: epoxyVersion(),
    uptimeMs: now - host.startedAt,
    listeners,
    pools,
    totals: {
      sessions: { current: t.active, total: t.accepted },
      requests: { total: sum(stats.listeners, (l) => l.requests) },
      responses,
      aborts: t.aborts,
      bytes: { spliced: t.bytesSpliced, copied: t.bytesCopied },
      selectTimeouts: t.selectTimeouts,
      logsSuppressed: t.logsSuppressed,
      logsDropped: t.logsDropped,
      loop: { turns: t.loopIterations, coalescePauses: t.coalescePauses, coalescedEvents: t.coalescedEvents },
    },
    threads: stats.threads.map((th) => ({ ...th })),
    hostMaps: stats.hostMaps.map((m) => ({ ...m })),
    redisPools: stats.redisPools.map((p) => ({ ...p })),
  };
}

function listenerView(l: ListenerStats, mode: ListenerView['mode'], bounds: number[], recentLatency: RecentLatency): ListenerView {
  return {
    name: l.name,
    bind: l.bind,
    mode,
    state: l.paused ? 'paused' : 'open',
    sessions: { current: l.active, total: l.accepted, max: l.maxconn },
    acceptErrors: l.acceptErrors,
    requests: { total: l.requests },
    responses: { ...l.responses },
    bytes: bytes(l),
    latency: summarize(l.totalMs, bounds),
    recentLatency,
    proxy: { ...l.proxy },
    tls: { ...l.tls },
  };
}

interface ServerLookups {
  check(address: string): CheckStatus | undefined;
  recent(s: ServerStats): RecentLatency;
}

function poolView(p: PoolStats, bounds: number[], lookups: ServerLookups): PoolView {
  const servers = p.servers.map((s) => serverView(s, bounds, lookups.check(s.address), lookups.recent(s)));
  return {
    name: p.name,
    state: servers.some((s) => s.state === 'up') ? 'up' : 'down',
    sessions: { current: p.active, total: p.sessions },
    requests: { total: sum(p.servers, (s) => s.requests) },
    noServer: p.noServer,
    retries: p.retries,
    queue: { length: p.queued, total: p.queuedTotal, timeouts: p.queueTimeouts, full: p.queueFull },
    servers,
  };
}

function serverView(s: ServerStats, bounds: number[], check: CheckStatus | undefined, recentLatency: RecentLatency): ServerView {
  return {
    address: s.address,
    state: s.state,
    weight: s.weight,
    maxconn: s.maxconn,
    sessions: { current: s.active, total: s.sessions },
    requests: { total: s.requests },
    responses: { '5xx': s.responses5xx },
    bytes: bytes(s),
    connectFailures: s.connectFailures,
    resets: s.resets,
    idleConnections: s.idleConnections,
    health: {
      check: check ? checkView(check) : null,
      passive: { ejected: s.state === 'ejected', ejections: s.ejections },
    },
    latency: summarize(s.responseMs, bounds),
    recentLatency,
  };
}

function checkView(c: CheckStatus): CheckView {
  const last = c.lastCheck;
  return {
    up: c.up,
    lastCheck: last ? { at: new Date(last.at).toISOString(), ok: last.ok, reason: last.reason, durationMs: last.durationMs } : null,
    consecutiveOk: c.consecutiveOk,
    consecutiveFailed: c.consecutiveFailed,
  };
}

function bytes(t: TrafficStats): Bytes {
  return { in: t.bytesIn, out: t.bytesOut, spliced: t.bytesSpliced, copied: t.bytesCopied };
}

function sum<T>(items: readonly T[], f: (item: T) => number): number {
  return items.reduce((n, item) => n + f(item), 0);
}
