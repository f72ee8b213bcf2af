/** Counters reported by `proxy.stats()`. Byte counts are since start; `active` values are current. */

// Types only, from the module that has no client: the public declarations must not reach ioredis'.
import type { HostMapSourceStates } from './hostmaps/types.js';

export interface TrafficStats {
  /** Bytes received from the peer this object faces (clients for a listener, the server for a server). */
  bytesIn: number;
  /** Bytes sent to that peer. */
  bytesOut: number;
  /** Bytes written with splice() through a kernel pipe (zero-copy), both directions. */
  bytesSpliced: number;
  /** Bytes written from a userspace buffer (recv/send), both directions. */
  bytesCopied: number;
}

/**
 * Latencies counted into fixed buckets: `counts[i]` requests took at most
 * `ProxyStats.latencyBoundsMs[i]` ms (and more than the bound before it); the last count is
 * everything above the last bound. Not cumulative.
 */
export interface LatencyHistogram {
  counts: number[];
  sumMs: number;
}

export interface ListenerStats extends TrafficStats {
  name: string;
  bind: string;
  accepted: number;
  active: number;
  /** Most connections open at once (0: no limit). */
  maxconn: number;
  /** accept() failures such as EMFILE; each pauses the listener for 100 ms. */
  acceptErrors: number;
  paused: boolean;
  /** HTTP requests received. */
  requests: number;
  /** HTTP responses sent, by status class; `none` counts requests that ended without one. */
  responses: { none: number; '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** HTTP: from a request's first byte to its end (response sent or connection cut). */
  totalMs: LatencyHistogram;
  /** `acceptProxy`: how the connections' PROXY headers went. */
  proxy: ProxyHeaderStats;
  /** TCP listeners routed by SNI/ALPN: what the connections' first bytes were. */
  tls: TlsInspectStats;
}

export interface ProxyHeaderStats {
  /** Valid headers carrying the client's address. */
  accepted: number;
  /** Valid LOCAL (v2) or UNKNOWN (v1) headers: the connection's own addresses kept. */
  local: number;
  /** Connections closed at accept: the source is not in `acceptProxy.trusted`. */
  untrusted: number;
  /** Missing, malformed or oversized headers (or closed before the header ended): closed. */
  invalid: number;
  /** No whole header within `acceptProxy.timeoutMs`: closed. */
  timeouts: number;
}

export interface TlsInspectStats {
  /** ClientHellos with an SNI name. */
  sni: number;
  /** ClientHellos without one. */
  noSni: number;
  /** Connections whose first bytes were not a TLS handshake (plain text, SSLv2). */
  notTls: number;
  /** A TLS record, but a malformed or truncated ClientHello. */
  malformed: number;
  /** A ClientHello over 16 KiB of handshake (24 KiB of records). */
  tooLarge: number;
  /** No whole ClientHello within `timeouts.inspectMs`. */
  timeouts: number;
  /** Connections no route matched: closed. */
  noRoute: number;
}

/**
 * What a server takes now: `up` new sessions; `drain` and `maint` none (set by the operator);
 * `down` none (failed active checks); `ejected` none for a while (passive health).
 */
export type ServerStateName = 'up' | 'drain' | 'maint' | 'down' | 'ejected';

export interface ServerStats extends TrafficStats {
  uid: number;
  address: string;
  weight: number;
  state: ServerStateName;
  /** Most sessions at once (0: no limit). */
  maxconn: number;
  /** Sessions (TCP connections, HTTP requests in flight) using the server now. */
  active: number;
  /** Sessions that connected to this server. */
  sessions: number;
  connectFailures: number;
  /** Connections the server reset or cut, invalid responses, server timeouts. */
  resets: number;
  responses5xx: number;
  /** Times passive health ejected the server. */
  ejections: number;
  /** HTTP requests sent to this server. */
  requests: number;
  /** HTTP: idle keep-alive connections held for reuse. */
  idleConnections: number;
  /** HTTP: from the request head received to the response head received. */
  responseMs: LatencyHistogram;
}

export interface PoolStats {
  name: string;
  /** Sessions assigned to this pool. */
  sessions: number;
  active: number;
  /** Sessions closed because no server of the pool could be reached. */
  noServer: number;
  /** New attempts after a failed connect, or after a server dropped a request unanswered. */
  retries: number;
  /** Sessions waiting now for a server under its maxconn. */
  queued: number;
  /** Sessions that ever waited in the queue. */
  queuedTotal: number;
  /** Sessions that gave up waiting (503 / closed). */
  queueTimeouts: number;
  /** Sessions refused because the queue was at its limit. */
  queueFull: number;
  servers: ServerStats[];
}

export interface ProxyStats {
  /** Upper bounds of the latency buckets, in ms. */
  latencyBoundsMs: number[];
  listeners: ListenerStats[];
  pools: PoolStats[];
  totals: {
    accepted: number;
    active: number;
    aborts: number;
    bytesSpliced: number;
    bytesCopied: number;
    selectTimeouts: number;
    logsSuppressed: number;
    /** Log lines (access log included) dropped because JS fell behind taking them. */
    logsDropped: number;
    loopIterations: number;
    /** Loop turns that paused to gather events into one wake-up (engine.coalesceUs). */
    coalescePauses: number;
    coalescedEvents: number;
    jsWakeups: number;
  };
  pipes: { inUse: number; free: number; failures: number };
  buffers: { inUse: number; free: number };
  /**
   * One entry per engine thread (engine.threads), to see imbalance at a glance: client
   * connections it accepted and has open now, HTTP requests it received, its loop turns and its
   * CPU time.
   * Everything above sums these threads.
   */
  threads: ThreadStats[];
  /** One entry per host map (`hostMaps`), in config order; empty without. */
  hostMaps: HostMapStats[];
  /** One entry per pool whose servers live in Redis (`servers: { redis }`). */
  redisPools: RedisPoolStats[];
}

/** A host map: the engine's lookups and the state of its copy of Redis. */
export interface HostMapStats {
  name: string;
  /** Hosts the engine routes by (exact and `*.` entries). */
  hosts: number;
  /** Lookups that found an entry. */
  hits: number;
  /** Lookups that found none: the request went on to the next route. */
  misses: number;
  /** Lookups that found an entry listing no valid server (answered 503 / closed). */
  empty: number;
  /** `connected`, `connecting`, `reconnecting` (lost while running) or `unreachable` (never reached since start). */
  connection: string;
  /** When the last full sync with Redis succeeded (ms since the epoch); absent: none yet. */
  lastSyncAt?: number;
  syncErrors: number;
  lastError?: string;
  /** Routing by the cache file: no sync with Redis has succeeded since start. */
  fromCache: boolean;
}

export interface RedisPoolStats {
  name: string;
  servers: number;
  connection: string;
  lastSyncAt?: number;
  syncErrors: number;
  lastError?: string;
}

export interface ThreadStats {
  /** The thread is `epoxy-engine-<id>` (top -H, perf, /proc/PID/task/TID/comm). */
  id: number;
  /** Client connections it accepted since start. */
  accepted: number;
  sessions: number;
  requests: number;
  loopIterations: number;
  cpuMs: number;
}

/** What one engine thread reports: the shape of ProxyStats, its own counts, and who it is. */
export type ThreadPart = Omit<ProxyStats, 'threads' | 'hostMaps' | 'redisPools'> & {
  thread: { id: number; cpuMs: number };
  hostMaps?: EngineHostMap[];
};

/** What each engine thread counts per host map. */
interface EngineHostMap {
  name: string;
  hosts: number;
  hits: number;
  misses: number;
  empty: number;
}

/**
 * Fields that are not the thread's own count but the same process-wide value seen from every
 * thread (a server's sessions over all threads, its state and settings): taken from the first.
 */
const SAME_ON_EVERY_THREAD = new Set(['uid', 'weight', 'maxconn', 'state', 'latencyBoundsMs', 'name', 'bind', 'address', 'hosts']);
const SERVER_SHARED = new Set([...SAME_ON_EVERY_THREAD, 'active']);

/** Sums numbers, ORs booleans, merges objects and lists position by position. */
function mergeValue(values: unknown[], key: string, inServer: boolean): unknown {
  const first = values[0];
  if ((inServer ? SERVER_SHARED : SAME_ON_EVERY_THREAD).has(key)) return first;
  if (typeof first === 'number') return values.reduce((a: number, v) => a + (typeof v === 'number' ? v : 0), 0);
  if (typeof first === 'boolean') return values.some((v) => v === true);
  if (Array.isArray(first)) {
    return first.map((_, i) => mergeValue(values.map((v) => (Array.isArray(v) ? v[i] : undefined)), key, inServer));
  }
  if (first !== null && typeof first === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first)) {
      out[k] = mergeValue(
        values.map((v) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined)),
        k,
        inServer || key === 'servers',
      );
    }
    return out;
  }
  return first;
}

/**
 * The process's stats from its threads' parts. Every thread lists the same listeners, pools and
 * servers in the same order (one spec for all), so entries merge by position.
 */
export function mergeThreadStats(parts: ThreadPart[]): ProxyStats {
  const sorted = [...parts].sort((a, b) => a.thread.id - b.thread.id);
  const { thread: _ignored, hostMaps: engineMaps, ...merged } = mergeValue(sorted, '', false) as ThreadPart;
  const threads = sorted.map((p) => ({
    id: p.thread.id,
    accepted: p.totals.accepted,
    sessions: p.totals.active,
    requests: p.listeners.reduce((n, l) => n + l.requests, 0),
    loopIterations: p.totals.loopIterations,
    cpuMs: p.thread.cpuMs,
  }));
  const hostMaps = (engineMaps ?? []).map((m) => ({ ...m, connection: 'connecting', syncErrors: 0, fromCache: false }));
  return { ...merged, threads, hostMaps, redisPools: [] };
}

/** The Redis side of host maps and Redis-backed pools, added to what the engine counted. */
export function withSharedRouting(stats: ProxyStats, states: HostMapSourceStates): ProxyStats {
  const counted = new Map(stats.hostMaps.map((m) => [m.name, m]));
  const hostMaps = Object.entries(states.maps).map(([name, s]): HostMapStats => {
    const engine = counted.get(name);
    const out: HostMapStats = {
      name,
      hosts: engine?.hosts ?? s.hosts,
      hits: engine?.hits ?? 0,
      misses: engine?.misses ?? 0,
      empty: engine?.empty ?? 0,
      connection: s.connection,
      syncErrors: s.syncErrors,
      fromCache: s.fromCache,
    };
    if (s.lastSyncAt !== undefined) out.lastSyncAt = s.lastSyncAt;
    if (s.lastError !== undefined) out.lastError = s.lastError;
    return out;
  });
  const redisPools = Object.entries(states.pools).map(([name, s]): RedisPoolStats => {
    const out: RedisPoolStats = { name, servers: s.servers, connection: s.connection, syncErrors: s.syncErrors };
    if (s.lastSyncAt !== undefined) out.lastSyncAt = s.lastSyncAt;
    if (s.lastError !== undefined) out.lastError = s.lastError;
    return out;
  });
  return { ...stats, hostMaps, redisPools };
}
