/** Counters reported by `proxy.stats()`. Byte counts are since start; `active` values are current. */

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
}
