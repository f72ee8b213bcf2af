/**
 * GET /metrics: Prometheus text from one proxy.stats() per scrape.
 *
 * The engine owns the counters, so nothing is counted here: every metric's collect() reads the
 * snapshot taken for the scrape in progress and sets the engine's values (a counter is reset and
 * increased by the engine's total, so it is exactly the engine's count and as monotonic). Each
 * Proxy has its own Registry, never prom-client's global one, so two proxies in one process do not
 * collide. docs/metrics.md lists every metric.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { LatencyHistogram, ProxyStats, ServerStateName } from '../stats.js';

type Labels = Record<string, string>;
type Sample = readonly [labels: Labels, value: number];
type Read = (s: ProxyStats) => Iterable<Sample>;

const SERVER_STATES: readonly ServerStateName[] = ['up', 'drain', 'maint', 'down', 'ejected'];
const RESPONSE_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const PROXY_OUTCOMES = ['accepted', 'local', 'untrusted', 'invalid', 'timeouts'] as const;
const TLS_OUTCOMES = ['sni', 'noSni', 'notTls', 'malformed', 'tooLarge', 'timeouts', 'noRoute'] as const;

export class ProxyMetrics {
  readonly registry = new Registry();
  /** The stats of the scrape in progress; scrapes run one at a time. */
  #snapshot: ProxyStats | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor() {
    defineMetrics(this);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for `read()`'s stats; one scrape at a time, so each sees its own snapshot. */
  render(read: () => Promise<ProxyStats>): Promise<string> {
    const run = this.#queue.then(async () => {
      this.#snapshot = await read();
      try {
        return await this.registry.metrics();
      } finally {
        this.#snapshot = undefined;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** For collect(): the snapshot of the scrape in progress. */
  snapshot(): ProxyStats {
    if (!this.#snapshot) throw new Error('internal error: metrics collected outside a scrape');
    return this.#snapshot;
  }

  counter(name: string, help: string, labelNames: readonly string[], read: Read): void {
    const metric: Counter = new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        metric.reset();
        for (const [labels, value] of read(this.snapshot())) metric.inc(labels, value);
      },
    });
  }

  gauge(name: string, help: string, labelNames: readonly string[], read: Read): void {
    const metric: Gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        metric.reset();
        for (const [labels, value] of read(this.snapshot())) metric.set(labels, value);
      },
    });
  }

  histogram(name: string, help: string, labelNames: readonly string[], read: (s: ProxyStats) => Iterable<[Labels, LatencyHistogram]>): void {
    new EngineHistogram(this, { name, help, labelNames, registers: [this.registry] }, read);
  }
}

type MetricValues = Awaited<ReturnType<Histogram['get']>>;

/**
 * A histogram whose buckets are the engine's: prom-client's Histogram only counts observations
 * it is given, so this one replaces the values it reports (both get() and the getForPromString()
 * the registry prefers) with the engine's counts, made cumulative, bounds in seconds, plus +Inf,
 * _sum and _count.
 */
class EngineHistogram extends Histogram {
  readonly #owner: ProxyMetrics;
  readonly #name: string;
  readonly #help: string;
  readonly #read: (s: ProxyStats) => Iterable<[Labels, LatencyHistogram]>;

  constructor(
    owner: ProxyMetrics,
    config: ConstructorParameters<typeof Histogram>[0],
    read: (s: ProxyStats) => Iterable<[Labels, LatencyHistogram]>,
  ) {
    super(config);
    this.#owner = owner;
    this.#name = config.name;
    this.#help = config.help;
    this.#read = read;
  }

  override async get(): Promise<MetricValues> {
    return this.getForPromString();
  }

  async getForPromString(): Promise<MetricValues> {
    const stats = this.#owner.snapshot();
    const seconds = stats.latencyBoundsMs.map((ms) => ms / 1000);
    const bucket = `${this.#name}_bucket`;
    const values: MetricValues['values'] = [];
    for (const [labels, h] of this.#read(stats)) {
      let cumulative = 0;
      seconds.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        values.push({ metricName: bucket, labels: { ...labels, le }, value: cumulative });
      });
      const count = h.counts.reduce((a, b) => a + b, 0);
      values.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: count });
      values.push({ metricName: `${this.#name}_sum`, labels, value: h.sumMs / 1000 });
      values.push({ metricName: `${this.#name}_count`, labels, value: count });
    }
    // prom-client's types say `type` is a numeric enum; at run time (and in the text) it is the word.
    const metric = { name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' };
    return metric as unknown as MetricValues;
  }
}

/** Every metric; docs/metrics.md says the same in prose. Keep the two in step. */
function defineMetrics(m: ProxyMetrics): void {
  const L = ['listener'];
  const P = ['pool'];
  const S = ['pool', 'server'];
  const listeners = function* (s: ProxyStats) {
    for (const l of s.listeners) yield [{ listener: l.name }, l] as const;
  };
  const pools = function* (s: ProxyStats) {
    for (const p of s.pools) yield [{ pool: p.name }, p] as const;
  };
  const servers = function* (s: ProxyStats) {
    for (const p of s.pools) for (const srv of p.servers) yield [{ pool: p.name, server: srv.address }, srv] as const;
  };
  const each = <T>(rows: (s: ProxyStats) => Iterable<readonly [Labels, T]>, value: (row: T) => number): Read =>
    function* (s) {
      for (const [labels, row] of rows(s)) yield [labels, value(row)];
    };
  const bytes = <T extends { bytesIn: number; bytesOut: number }>(rows: (s: ProxyStats) => Iterable<readonly [Labels, T]>): Read =>
    function* (s) {
      for (const [labels, row] of rows(s)) {
        yield [{ ...labels, direction: 'in' }, row.bytesIn];
        yield [{ ...labels, direction: 'out' }, row.bytesOut];
      }
    };

  // ---- listeners ----
  m.counter('epoxy_listener_connections_total', 'Client connections accepted.', L, each(listeners, (l) => l.accepted));
  m.gauge('epoxy_listener_active_connections', 'Client connections open now.', L, each(listeners, (l) => l.active));
  m.counter('epoxy_listener_accept_errors_total', 'accept() failures (each pauses the listener for 100 ms).', L, each(listeners, (l) => l.acceptErrors));
  m.counter('epoxy_listener_requests_total', 'HTTP requests received.', L, each(listeners, (l) => l.requests));
  m.counter('epoxy_listener_responses_total', 'HTTP responses sent, by status class (none: the request ended without one).', [...L, 'class'], function* (s) {
    for (const [labels, l] of listeners(s)) for (const c of RESPONSE_CLASSES) yield [{ ...labels, class: c }, l.responses[c]];
  });
  m.counter('epoxy_listener_bytes_total', 'Bytes received from (in) and sent to (out) clients.', [...L, 'direction'], bytes(listeners));
  m.histogram('epoxy_listener_request_seconds', 'HTTP: from a request\'s first byte to its end (response sent or connection cut).', L, function* (s) {
    for (const [labels, l] of listeners(s)) yield [labels, l.totalMs];
  });
  m.counter('epoxy_listener_proxy_headers_total', 'acceptProxy: PROXY headers by outcome (untrusted, invalid and timeouts are closed).', [...L, 'outcome'], function* (s) {
    for (const [labels, l] of listeners(s)) for (const o of PROXY_OUTCOMES) yield [{ ...labels, outcome: o }, l.proxy[o]];
  });
  m.counter('epoxy_listener_tls_inspections_total', 'TCP routes by SNI/ALPN: what connections began with (noRoute: closed).', [...L, 'outcome'], function* (s) {
    for (const [labels, l] of listeners(s)) for (const o of TLS_OUTCOMES) yield [{ ...labels, outcome: o }, l.tls[o]];
  });

  // ---- pools ----
  m.counter('epoxy_pool_sessions_total', 'Sessions (TCP connections, HTTP requests) assigned to the pool.', P, each(pools, (p) => p.sessions));
  m.gauge('epoxy_pool_active_sessions', 'Sessions of the pool in progress now.', P, each(pools, (p) => p.active));
  m.counter('epoxy_pool_no_server_total', 'Sessions closed because no server of the pool could be reached.', P, each(pools, (p) => p.noServer));
  m.counter('epoxy_pool_retries_total', 'New attempts after a failed connect, or after a server dropped a request unanswered.', P, each(pools, (p) => p.retries));
  m.gauge('epoxy_pool_queue_length', 'Sessions waiting now for a server under its maxconn.', P, each(pools, (p) => p.queued));
  m.counter('epoxy_pool_queued_total', 'Sessions that waited in the queue.', P, each(pools, (p) => p.queuedTotal));
  m.counter('epoxy_pool_queue_timeouts_total', 'Sessions that gave up waiting in the queue (503 or closed).', P, each(pools, (p) => p.queueTimeouts));
  m.counter('epoxy_pool_queue_full_total', 'Sessions refused because the queue was at its limit.', P, each(pools, (p) => p.queueFull));

  // ---- servers ----
  m.counter('epoxy_server_sessions_total', 'Sessions that connected to the server.', S, each(servers, (s) => s.sessions));
  m.gauge('epoxy_server_active', 'Sessions using the server now (TCP connections, HTTP requests in flight).', S, each(servers, (s) => s.active));
  m.gauge('epoxy_server_up', '1 when the server takes new sessions (state up), else 0.', S, each(servers, (s) => (s.state === 'up' ? 1 : 0)));
  m.gauge('epoxy_server_state', 'The server\'s state: 1 for the current one of up, drain, maint, down, ejected; 0 for the others.', [...S, 'state'], function* (s) {
    for (const [labels, srv] of servers(s)) for (const state of SERVER_STATES) yield [{ ...labels, state }, srv.state === state ? 1 : 0];
  });
  m.gauge('epoxy_server_weight', 'The server\'s balancing weight.', S, each(servers, (s) => s.weight));
  m.counter('epoxy_server_connect_failures_total', 'Connects to the server that failed (refused, reset, timed out).', S, each(servers, (s) => s.connectFailures));
  m.counter('epoxy_server_resets_total', 'Connections the server reset or cut, invalid responses, server timeouts.', S, each(servers, (s) => s.resets));
  m.counter('epoxy_server_ejections_total', 'Times passive health ejected the server.', S, each(servers, (s) => s.ejections));
  m.counter('epoxy_server_requests_total', 'HTTP requests sent to the server.', S, each(servers, (s) => s.requests));
  m.counter('epoxy_server_responses_5xx_total', 'HTTP 5xx responses from the server.', S, each(servers, (s) => s.responses5xx));
  m.counter('epoxy_server_bytes_total', 'Bytes received from (in) and sent to (out) the server.', [...S, 'direction'], bytes(servers));
  m.gauge('epoxy_server_idle_connections', 'HTTP: idle keep-alive connections to the server held for reuse.', S, each(servers, (s) => s.idleConnections));
  m.histogram('epoxy_server_response_seconds', 'HTTP: from the request head sent to the server to its response head received.', S, function* (s) {
    for (const [labels, srv] of servers(s)) yield [labels, srv.responseMs];
  });

  // ---- engine ----
  m.counter('epoxy_engine_bytes_total', 'Bytes moved, by splice() through a kernel pipe or copied through a userspace buffer.', ['method'], function* (s) {
    yield [{ method: 'splice' }, s.totals.bytesSpliced];
    yield [{ method: 'copy' }, s.totals.bytesCopied];
  });
  // Engine-wide counters without labels: one number of the stats read each.
  const engineCounters: Array<[string, string, (t: ProxyStats['totals']) => number]> = [
    ['epoxy_engine_aborts_total', 'Sessions cut short (a peer gone, a timeout).', (t) => t.aborts],
    ['epoxy_engine_select_timeouts_total', 'select hook calls that did not answer in time (the balancer decided).', (t) => t.selectTimeouts],
    ['epoxy_engine_logs_dropped_total', 'Log lines (access log included) dropped because JS fell behind taking them.', (t) => t.logsDropped],
    ['epoxy_engine_logs_suppressed_total', 'Engine log lines suppressed by the rate limit (200 a second).', (t) => t.logsSuppressed],
    ['epoxy_engine_loop_turns_total', "Turns of the engine's event loop (each is one epoll_wait).", (t) => t.loopIterations],
    ['epoxy_engine_coalesce_pauses_total', 'Loop turns that paused engine.coalesceUs to gather events into one wake-up.', (t) => t.coalescePauses],
    ['epoxy_engine_coalesced_events_total', 'Events gathered by coalescing pauses.', (t) => t.coalescedEvents],
  ];
  for (const [name, help, pick] of engineCounters) {
    m.counter(name, help, [], function* (s) {
      yield [{}, pick(s.totals)];
    });
  }
  // Per engine thread: imbalance shows as one thread's CPU or sessions far above the others'.
  m.counter('epoxy_thread_cpu_seconds_total', 'CPU time of an engine thread (epoxy-engine-<thread>).', ['thread'], function* (s) {
    for (const t of s.threads) yield [{ thread: String(t.id) }, t.cpuMs / 1000];
  });
  m.gauge('epoxy_thread_sessions', 'Client connections open on an engine thread now.', ['thread'], function* (s) {
    for (const t of s.threads) yield [{ thread: String(t.id) }, t.sessions];
  });
  m.counter('epoxy_thread_accepted_total', 'Client connections an engine thread accepted.', ['thread'], function* (s) {
    for (const t of s.threads) yield [{ thread: String(t.id) }, t.accepted];
  });
  // ---- host maps and Redis-backed pools (issue 16) ----
  const CONNECTIONS = ['connected', 'connecting', 'reconnecting', 'unreachable'] as const;
  m.gauge('epoxy_hostmap_hosts', 'Hosts (exact and *. entries) a host map routes by.', ['map'], function* (s) {
    for (const h of s.hostMaps) yield [{ map: h.name }, h.hosts];
  });
  m.counter('epoxy_hostmap_lookups_total', 'Host map lookups by result (miss: on to the next route; empty: an entry with no server).', ['map', 'result'], function* (s) {
    for (const h of s.hostMaps) {
      yield [{ map: h.name, result: 'hit' }, h.hits];
      yield [{ map: h.name, result: 'miss' }, h.misses];
      yield [{ map: h.name, result: 'empty' }, h.empty];
    }
  });
  m.gauge('epoxy_hostmap_redis_connection', "The Redis link a host map follows: 1 for the current one of connected, connecting, reconnecting, unreachable.", ['map', 'state'], function* (s) {
    for (const h of s.hostMaps) for (const c of CONNECTIONS) yield [{ map: h.name, state: c }, h.connection === c ? 1 : 0];
  });
  m.gauge('epoxy_hostmap_last_sync_timestamp_seconds', 'When the last full sync with Redis succeeded (0: none yet).', ['map'], function* (s) {
    for (const h of s.hostMaps) yield [{ map: h.name }, (h.lastSyncAt ?? 0) / 1000];
  });
  m.counter('epoxy_hostmap_sync_errors_total', 'Failed syncs and re-reads of a host map while connected.', ['map'], function* (s) {
    for (const h of s.hostMaps) yield [{ map: h.name }, h.syncErrors];
  });
  m.gauge('epoxy_hostmap_from_cache', '1 while a host map routes by its cache file (no sync with Redis yet).', ['map'], function* (s) {
    for (const h of s.hostMaps) yield [{ map: h.name }, h.fromCache ? 1 : 0];
  });
  m.gauge('epoxy_redis_pool_servers', 'Members of a pool whose servers live in Redis.', ['pool'], function* (s) {
    for (const p of s.redisPools) yield [{ pool: p.name }, p.servers];
  });
  m.gauge('epoxy_redis_pool_last_sync_timestamp_seconds', 'When the last sync of a Redis-backed pool succeeded (0: none yet).', ['pool'], function* (s) {
    for (const p of s.redisPools) yield [{ pool: p.name }, (p.lastSyncAt ?? 0) / 1000];
  });

  m.gauge('epoxy_engine_pipes_in_use', 'Splice pipes in use now.', [], function* (s) {
    yield [{}, s.pipes.inUse];
  });
  m.counter('epoxy_engine_pipe_failures_total', 'Splice pipes that could not be created (sessions fell back to copying).', [], function* (s) {
    yield [{}, s.pipes.failures];
  });
}
