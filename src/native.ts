/**
 * The typed boundary to the C++ addon (native/addon). Everything the addon accepts and returns
 * is described here; nothing else in src/ touches the addon directly.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** AdminState in native/engine/model.h. */
export const ADMIN = { ready: 0, drain: 1, maint: 2 } as const;
export const PROXY_PROTOCOL = { none: 0, v1: 1, v2: 2 } as const;
/** lb::Algorithm in native/lb/balancer.h. */
export const BALANCE = { roundrobin: 0, leastconn: 1, p2c: 2, hash: 3 } as const;
/** HashKey in native/engine/model.h. */
export const HASH_KEY = { host: 0, path: 1, client: 2, header: 3 } as const;

export interface NativeServerSpec {
  uid: number;
  /** `ip:port` or `[v6]:port` literal. */
  address: string;
  weight: number;
  /** 0: no limit. */
  maxconn: number;
  /** An ADMIN value. */
  admin: number;
  /** The verdict of active health checks. */
  up: boolean;
  /** A PROXY_PROTOCOL value: the header sent on each new connection. */
  proxyProtocol: number;
}

/** Fields of a running server to change; omitted ones stay. */
export interface NativeServerUpdate {
  uid: number;
  weight?: number;
  maxconn?: number;
  admin?: number;
  up?: boolean;
}

export interface NativePoolSpec {
  uid: number;
  name: string;
  /** A BALANCE value. */
  balance: number;
  /** A HASH_KEY value (used when balance is hash). */
  hashKey: number;
  /** Lowercase header name for HASH_KEY.header, else ''. */
  hashHeader: string;
  retries: number;
  queueTimeoutMs: number;
  queueLimit: number;
  /** errors 0: passive health off. */
  passive: { errors: number; windowMs: number; ejectMs: number; count5xx: boolean };
  /** TCP congestion control of server connections; '' the system's. */
  congestion: string;
  servers: NativeServerSpec[];
}

export interface NativeRouteSpec {
  /** '' any, exact lowercase host (the SNI name on TCP listeners), or `*.suffix`. */
  host: string;
  /** '' any, or a path prefix (HTTP). */
  path: string;
  /** '' any, or an ALPN protocol the ClientHello must offer (TCP). */
  alpn: string;
  /** Index into NativeSnapshotSpec.pools (for a hostMap route: the map's pool). */
  pool: number;
  /**
   * Index into NativeSnapshotSpec.hostMaps: the route matches when the normalized Host (HTTP)
   * or SNI (TCP) has an entry in that map (exact, then `*.parent` walking up the labels), and
   * `host` must then be ''. Absent: an ordinary route.
   */
  hostMap?: number;
}

/**
 * Host entries in flat arrays: host i (normalized: lowercase, no port, no trailing dot; or a
 * `*.suffix` wildcard) has `counts[i]` server uids, the next ones in `servers`. A count of
 * HOST_REMOVED removes the host (its uids: none); a count of 0 keeps the host with no server
 * (requests for it get 503, never another route).
 */
export interface NativeHostBatch {
  hosts: string[];
  counts: Uint32Array;
  servers: Uint32Array;
}

export const HOST_REMOVED = 0xffffffff;

/**
 * A map of hosts to subsets of one pool's servers (issue 16's hostMaps). Kept by the engine
 * across snapshots by uid, like pools: `initial` is read only when the uid is new to it.
 */
export interface NativeHostMapSpec {
  uid: number;
  name: string;
  /** Index into NativeSnapshotSpec.pools: the pool holding every server the map's hosts use. */
  pool: number;
  /** BALANCE.roundrobin, leastconn or p2c: how one host's servers share its traffic. */
  balance: number;
  initial?: NativeHostBatch;
}

/** `congestion`: TCP congestion control of client connections; '' the system's. */
export type NativeListenerSpec = {
  name: string;
  bind: string;
  backlog: number;
  maxconn: number;
  congestion: string;
  /** Absent: no PROXY header expected. `trusted` empty: every source. */
  acceptProxy?: { trusted: string[]; timeoutMs: number };
} & (
  | { mode: 'tcp'; /** Index into NativeSnapshotSpec.pools; absent when routed. */ pool?: number; routes?: NativeRouteSpec[] }
  | { mode: 'http'; routes: NativeRouteSpec[] }
);

export interface NativeSnapshotSpec {
  listeners: NativeListenerSpec[];
  pools: NativePoolSpec[];
  hostMaps: NativeHostMapSpec[];
  timeouts: {
    httpRequestMs: number;
    connectMs: number;
    clientMs: number;
    serverMs: number;
    tunnelMs: number;
    selectMs: number;
    inspectMs: number;
  };
  tuning: {
    pipeSize: number;
    maxPipes: number;
    spliceThreshold: number;
    maxHeadBytes: number;
    serverIdleMax: number;
    serverIdleMs: number;
    coalesceUs: number;
    coalesceSessions: number;
  };
  selectHook: boolean;
  accessLog: boolean;
  /** Requests logged per million when accessLog is on (1000000: all). */
  accessLogSample: number;
}

/** One batch of engine events; every field is optional. */
export interface NativeEventBatch {
  /**
   * Select requests, 5 numbers each: token, listener index, index into `addresses`, client
   * port, and for an HTTP request the index of its first string in `requests` (method, target,
   * normalized host, raw head) or NO_REQUEST.
   */
  selects?: Uint32Array;
  addresses?: string[];
  requests?: string[];
  /** (request token, stats JSON: `{"threads":[part, ...]}`, one part per engine thread) */
  stats?: Array<[number, string]>;
  /** JSON objects with at least `level` and `msg`. */
  logs?: string[];
  /** Passive health decisions: a server ejected, or back after its ejection. */
  serverStates?: Array<{ uid: number; ejected: boolean; reason: string }>;
  stopped?: boolean;
}

/** Select reply targets: 0 lets the balancer decide. */
export const TARGET_POOL = 0x40000000;
export const TARGET_SERVER = 0x80000000;
export const SELECT_RECORD = 5;
export const NO_REQUEST = 0xffffffff;

export interface NativeEngine {
  /** Binds new listeners synchronously (throws with the listener's name on failure), then queues the snapshot. */
  apply(spec: NativeSnapshotSpec): void;
  addServer(poolUid: number, server: NativeServerSpec): void;
  removeServer(uid: number): void;
  updateServer(update: NativeServerUpdate): void;
  /**
   * Sets or removes hosts of the running map `mapUid` on every engine thread (queued like
   * addServer: a server must be added to the map's pool before a batch names it). Unknown uids
   * in a batch are skipped.
   */
  setHosts(mapUid: number, batch: NativeHostBatch): void;
  /** Snapshots some engine thread has not taken yet; 0: the last apply is in force everywhere. */
  pendingApplies(): number;
  /** (token, target) pairs. */
  selectReply(pairs: Uint32Array): void;
  requestStats(token: number): void;
  /** Takes every event queued since the last call; the engine wakes JS again only after this. */
  takeEvents(): NativeEventBatch;
  stop(graceMs: number): void;
  /** Joins the engine thread and closes every fd; the object is unusable afterwards. */
  close(): void;
  ref(): void;
  unref(): void;
}

/** The engine's consistent-hash ring over members (ids are server addresses), in their order. */
export interface NativeHashRing {
  /** Index of the member owning `key`, skipping members whose byte in `eligible` is 0; -1 if none. */
  pick(key: string, eligible?: Uint8Array): number;
}

interface NativeModule {
  /** `threads` engine threads (1–64), thread i pinned to cpus[i % cpus.length] when cpus is not empty. */
  Engine: new (onWake: () => void, options: { threads: number; cpus?: number[] }) => NativeEngine;
  HashRing: new (ids: string[], weights: number[]) => NativeHashRing;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function loadAddon(): NativeModule {
  // EPOXY_ADDON points at a specific build (the sanitizer build in scripts/test-asan.sh).
  const explicit = process.env['EPOXY_ADDON'];
  if (explicit) return require(path.resolve(explicit)) as NativeModule;
  const load = require('node-gyp-build') as (dir: string) => NativeModule;
  return load(packageRoot);
}

export const native: NativeModule = loadAddon();
