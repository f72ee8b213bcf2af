/**
 * The validated, normalised config that the rest of epoxy works with: every default filled in,
 * every address resolved. What a user writes is in types.ts.
 */
import type { EngineTuning, HashKey, ProxyProtocolVersion, SelectHook, ServerState } from './types.js';

export interface ResolvedServer {
  /** Normalised `ip:port` (`[v6]:port` for IPv6). */
  address: string;
  weight: number;
  /** 0: no limit. */
  maxconn: number;
  /** Undefined when the config does not say (a reload keeps the state set at run time). */
  state?: ServerState;
  /** The server's own, else the pool's; null: none. */
  proxyProtocol: ProxyProtocolVersion | null;
}

export type ResolvedBalance = 'roundrobin' | 'leastconn' | 'p2c' | 'hash';

export interface ResolvedHash {
  key: HashKey;
  /** Lowercase header name when `key` is `header`, else ''. */
  header: string;
}

export interface ResolvedHealthCheck {
  type: 'tcp' | 'http';
  path: string;
  /** '' means the server's address. */
  host: string;
  /** Healthy statuses; empty means any 200–399. */
  expectStatus: number[];
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export interface ResolvedPassive {
  errors: number;
  windowMs: number;
  ejectMs: number;
  count5xx: boolean;
}

export interface ResolvedPool {
  name: string;
  balance: ResolvedBalance;
  /** Set when `balance` is `hash`. */
  hash?: ResolvedHash;
  retries: number;
  servers: ResolvedServer[];
  queue: { timeoutMs: number; limit: number };
  health?: ResolvedHealthCheck;
  /** null: passive health is off. */
  passive: ResolvedPassive | null;
  /** '' for the system's default. */
  congestion: string;
  /** For servers that do not say (also those added at run time); null: none. */
  proxyProtocol: ProxyProtocolVersion | null;
  /** maxconn of servers that do not say (also those added at run time or from Redis); 0: no limit. */
  maxconn: number;
  /**
   * Where the servers come from when not from the config: `{ redis }` (the key of a SET or
   * HASH; `servers` is then empty here and filled from Redis at run time) or `{ hostMap }` (the
   * pool behind a host map: every server some host of the map names).
   */
  source?: { redis: string } | { hostMap: string };
}

export interface ResolvedAcceptProxy {
  /** Normalized ranges (`10.0.0.0/8`, `::1/128`); empty: every source. */
  trusted: string[];
  timeoutMs: number;
}

export interface ResolvedTcpRoute {
  /** '' any; lowercase exact name; or `*.suffix`. */
  sni: string;
  /** '' any. */
  alpn: string;
  /** The pool; for a hostMap route, the map's pool (named after the map). */
  pool: string;
  /** Set for a `{ hostMap }` route. */
  hostMap?: string;
}

export interface ResolvedTcpListener {
  name: string;
  mode: 'tcp';
  bind: string;
  backlog: number;
  /** 0: no limit. */
  maxconn: number;
  /** '' for the system's default. */
  congestion: string;
  /** '' when the listener routes by `routes`. */
  pool: string;
  /** Empty when the listener has one `pool`. */
  routes: ResolvedTcpRoute[];
  /** null: no PROXY header expected. */
  acceptProxy: ResolvedAcceptProxy | null;
}

export interface ResolvedRoute {
  /** '' for any host; lowercase exact host; or `*.suffix`. */
  host: string;
  /** '' for any path. */
  path: string;
  /** The pool; for a hostMap route, the map's pool (named after the map). */
  pool: string;
  /** Set for a `{ hostMap }` route. */
  hostMap?: string;
}

export interface ResolvedHttpListener {
  name: string;
  mode: 'http';
  bind: string;
  backlog: number;
  /** 0: no limit. */
  maxconn: number;
  /** '' for the system's default. */
  congestion: string;
  routes: ResolvedRoute[];
  /** null: no PROXY header expected. */
  acceptProxy: ResolvedAcceptProxy | null;
}

export type ResolvedListener = ResolvedTcpListener | ResolvedHttpListener;

export interface ResolvedTimeouts {
  connectMs: number;
  clientMs: number;
  serverMs: number;
  httpRequestMs: number;
  tunnelMs: number;
  selectMs: number;
  inspectMs: number;
}

export interface ResolvedConfig {
  listeners: ResolvedListener[];
  pools: ResolvedPool[];
  timeouts: ResolvedTimeouts;
  select?: SelectHook;
  accessLog: ResolvedAccessLog;
  admin?: ResolvedAdmin;
  shutdownGraceMs: number;
  engine: ResolvedEngine;
  redis?: ResolvedRedis;
  /** In config order; each map's pool is also in `pools` (source `{ hostMap }`). */
  hostMaps: ResolvedHostMap[];
}

export interface ResolvedRedis {
  url: string;
  channel: string;
  resyncMs: number;
}

export interface ResolvedHostMap {
  name: string;
  /** With exactly one `{host}`. */
  key: string;
  format: 'set' | 'hipache';
  balance: 'roundrobin' | 'leastconn' | 'p2c';
  cacheFile?: string;
}

/** engine settings with their defaults; `threads` a number ('auto' resolved at start). */
export type ResolvedEngine = Required<Omit<EngineTuning, 'threads'>> & { threads: number };

export interface ResolvedAccessLog {
  mode: 'off' | 'sampled' | 'full';
  /** 1 for full, 0 for off. */
  sampleRate: number;
  /** 'stdout' or an absolute file path. */
  destination: string;
}

export interface ResolvedAdmin {
  /** Normalised `ip:port`. */
  bind: string;
  token?: string;
  latencyWindowMs: number;
}

