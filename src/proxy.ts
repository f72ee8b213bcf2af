/**
 * Proxy: the running epoxy instance. It owns one native engine (one epoll thread), keeps the
 * control-plane model (pools, servers and their engine uids), and turns engine events into
 * logs, stats answers and select-hook calls.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

import { ConfigError } from './config/errors.js';
import type { EpoxyConfig, ResolvedConfig, ResolvedEngine, ResolvedListener, ResolvedPool } from './config/types.js';
import { resolveConfig } from './config/validate.js';
import { AccessLog, type AccessLogSwitch } from './log/access.js';
import { createLogger } from './log/logger.js';
import { SELECT_RECORD, native, type NativeEngine, type NativeEventBatch, type NativeListenerSpec, type NativeSnapshotSpec } from './native.js';
import type { AdminHost, HostMapAnswer } from './admin/host.js';
import { AdminSlot, type AdminMove } from './admin/slot.js';
import { PoolHealthChecks } from './health/pools.js';
import { PoolRegistry, normalizeHost, stateName, type PoolPlan } from './pools.js';
import { PoolControl, type PoolHandle, type ServerEvent } from './pool-control.js';
import { SelectDispatcher } from './select.js';
import { reloadSummary, restartOnlyIssues } from './reload-checks.js';
import { SharedRouting } from './shared-routing.js';
import { mergeThreadStats, withSharedRouting, type ProxyStats, type ThreadPart } from './stats.js';

export interface ProxyOptions {
  /** Where epoxy logs (pino). Default: JSON lines on stdout at EPOXY_LOG_LEVEL or info. */
  logger?: Logger;
  /**
   * How the admin API's `POST /api/reload` reloads: load the config again from wherever it came
   * from and pass it to proxy.reload() (`epoxy run` reloads its file). It rejects with a
   * ConfigError for an invalid config. Without it, `POST /api/reload` answers 409.
   */
  reload?: () => Promise<void>;
}

export interface ReloadOptions {
  /**
   * Fields added to every log line of this reload, so an operator can tell what asked for it
   * (the CLI passes the config file and the trigger).
   */
  logFields?: Record<string, unknown>;
}

export interface StopOptions {
  /** How long sessions in flight may take to finish before they are cut. Default: the config's `shutdownGraceMs`. */
  graceMs?: number;
}

export type { AddServerOptions, PoolHandle, ServerEvent, ServerInfo } from './pool-control.js';

export interface ProxyEvents {
  server: [ServerEvent];
}

const IN_FORCE_WAIT_MS = 5000;

export class Proxy extends EventEmitter<ProxyEvents> {
  readonly #engine: NativeEngine;
  readonly #logger: Logger;
  #config: ResolvedConfig;
  readonly #pools = new PoolRegistry();
  readonly #health: PoolHealthChecks;
  readonly #control: PoolControl;
  readonly #access: AccessLog;
  readonly #statsWaiters = new Map<number, (json: string) => void>();
  #nextStatsToken = 1;
  #select: SelectDispatcher | undefined;
  #stopping: Promise<void> | undefined;
  #resolveStopped: (() => void) | undefined;
  #closed = false;
  /** Keeps the process alive while the proxy runs, like a listening net.Server; see unref(). */
  #keepAlive: NodeJS.Timeout | undefined = setInterval(() => {}, 1 << 30);
  /** Calls awaiting an engine answer; the TSFN is ref'd only while there are some. */
  #awaiting = 0;
  readonly #startedAt = Date.now();
  readonly #reloadSource: (() => Promise<void>) | undefined;
  readonly #admin: AdminSlot;
  /** Host maps and Redis-backed pools (config.redis); undefined without. */
  readonly #routing: SharedRouting | undefined;

  /**
   * Validates `config`, binds every listener and the admin server (if configured) and starts the
   * engine thread. A listener or admin bind that fails rejects, with nothing left running.
   */
  static async start(config: EpoxyConfig, options: ProxyOptions = {}): Promise<Proxy> {
    const result = await resolveConfig(config);
    if (!result.ok) throw new ConfigError(result.issues);
    const logger = options.logger ?? createLogger();
    // Every host map and Redis-backed pool is loaded (or its fallback taken) before a listener
    // routes by it.
    const routing = await SharedRouting.open(result.config, logger);
    let access: AccessLog;
    try {
      access = await AccessLog.open(result.config.accessLog, logger);
    } catch (err) {
      await routing?.stop();
      throw err;
    }
    let proxy: Proxy;
    try {
      proxy = new Proxy(result.config, logger, access, options.reload, routing);
    } catch (err) {
      await access.close();
      await routing?.stop();
      throw err;
    }
    await proxy.#inForce(logger);
    if (result.config.admin) {
      try {
        await proxy.#admin.open(result.config.admin);
      } catch (err) {
        await proxy.stop({ graceMs: 0 });
        throw err;
      }
    }
    return proxy;
  }

  private constructor(
    config: ResolvedConfig,
    logger: Logger,
    access: AccessLog,
    reloadSource: (() => Promise<void>) | undefined,
    routing: SharedRouting | undefined,
  ) {
    super();
    this.#config = config;
    this.#routing = routing;
    this.#logger = logger;
    this.#access = access;
    this.#reloadSource = reloadSource;
    this.#admin = new AdminSlot(this.#adminHost(), logger);
    this.#health = new PoolHealthChecks(logger, (change) => this.#control.onCheckChange(change));
    const plan = this.#pools.plan(this.#poolsOf(config));
    this.#engine = new native.Engine(() => this.#onWake(), { threads: config.engine.threads, cpus: config.engine.cpus });
    this.#control = new PoolControl({
      pools: this.#pools,
      engine: this.#engine,
      health: this.#health,
      logger,
      running: () => this.#running,
      emit: (event) => this.emit('server', event),
    });
    this.#select = this.#makeSelect(config);
    // The threadsafe function stays unref'd: an engine with nothing to say never holds the
    // process open. Only #awaitEngine() refs it, while JS waits for an answer.
    this.#engine.unref();
    try {
      this.#engine.apply(this.#compile(config, plan));
      this.#pools.commit(plan);
      this.#health.sync(this.#pools.all());
      routing?.attach({
        sourced: (name) => this.#control.sourced(name),
        setHosts: (uid, batch) => this.#engine.setHosts(uid, batch),
        running: () => this.#running,
      });
    } catch (err) {
      this.#engine.close();
      this.#closed = true;
      clearInterval(this.#keepAlive);
      throw err;
    }
    for (const l of config.listeners) logListening(logger, l);
  }

  /** Live changes to a pool; throws if there is no pool of that name. */
  pool(name: string): PoolHandle {
    return this.#control.handle(name);
  }

  /**
   * Replaces the running config without a restart: listeners are added, kept (same bind: the
   * socket stays open) or closed; pools and servers are matched by name and address, so
   * counters, idle connections and states set at run time carry over. Sessions in flight keep
   * the config they started with. A config that fails validation, or a listener that cannot
   * bind, changes nothing: the ConfigError or bind error is thrown and every problem logged.
   */
  async reload(config: EpoxyConfig, options: ReloadOptions = {}): Promise<void> {
    this.#assertRunning();
    const log = options.logFields ? this.#logger.child(options.logFields) : this.#logger;
    const result = await resolveConfig(config);
    if (!result.ok) {
      for (const { path, message } of result.issues) log.error({ path, message }, `reload rejected: ${message}`);
      throw new ConfigError(result.issues, 'reload rejected, the running config stays');
    }
    const next = result.config;
    const fixed = restartOnlyIssues(this.#config, next);
    if (fixed.length > 0) {
      for (const { path, message } of fixed) log.error({ path, message }, `reload rejected: ${message}`);
      throw new ConfigError(fixed, 'reload rejected, the running config stays');
    }
    // A new admin bind and access log destination are taken first, so that one that fails
    // changes nothing.
    let moved: AdminMove | undefined;
    try {
      moved = await this.#admin.move(next.admin, this.#config.admin);
    } catch (err) {
      log.error({ err }, 'reload rejected, the running config stays');
      throw err;
    }
    if (moved && !this.#running) {
      void moved.started.close();
      this.#assertRunning();
    }
    let access: AccessLogSwitch;
    try {
      access = await this.#prepareAccessLog(next, log);
    } catch (err) {
      await moved?.undo();
      throw err;
    }
    try {
      this.#assertRunning();
      const plan = this.#pools.plan(this.#poolsOf(next));
      this.#engine.apply(this.#compile(next, plan));
      this.#pools.commit(plan);
    } catch (err) {
      if (this.#running) await moved?.undo();
      else void moved?.started.close();
      await access.abandon();
      if (this.#running) log.error({ err }, 'reload rejected, the running config stays');
      throw err;
    }
    access.commit();
    await this.#inForce(log);
    const summary = reloadSummary(this.#config, next);
    this.#config = next;
    this.#select = this.#makeSelect(next);
    this.#health.sync(this.#pools.all());
    this.#admin.commit(next.admin, moved);
    log.info(summary, 'config reloaded');
  }

  /**
   * Resolves once every engine thread has taken the last snapshot, so that a reload (or start)
   * resolves with its changes in force — a kept listener's socket options included. The engine
   * threads take a snapshot at their next loop turn (well under a millisecond when idle, a few
   * under load); after IN_FORCE_WAIT_MS a warning says the change is still on its way.
   */
  async #inForce(log: Logger): Promise<void> {
    const deadline = Date.now() + IN_FORCE_WAIT_MS;
    while (!this.#closed && this.#engine.pendingApplies() > 0) {
      if (Date.now() > deadline) {
        log.warn({ waitedMs: IN_FORCE_WAIT_MS }, 'the engine threads have not taken the new config yet; it applies as soon as they do');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** The access log's destination for `next`, opened; a file that cannot be opened rejects the reload. */
  async #prepareAccessLog(next: ResolvedConfig, log: Logger): Promise<AccessLogSwitch> {
    try {
      return await this.#access.prepare(next.accessLog);
    } catch (err) {
      log.error({ err, path: 'accessLog.destination' }, 'reload rejected, the running config stays: cannot open the access log');
      throw err;
    }
  }

  /** Counters per listener, pool and server, read from the engine thread. */
  stats(): Promise<ProxyStats> {
    if (!this.#running) return Promise.reject(new Error('epoxy: proxy is stopped'));
    const token = this.#nextStatsToken++;
    return this.#awaitEngine(
      new Promise((resolve) => {
        this.#statsWaiters.set(token, (json) => {
          const merged = mergeThreadStats((JSON.parse(json) as { threads: ThreadPart[] }).threads);
          resolve(this.#routing ? withSharedRouting(merged, this.#routing.states()) : merged);
        });
        this.#engine.requestStats(token);
      }),
    );
  }

  /**
   * Graceful stop: listeners close at once, sessions in flight get `graceMs` (default: the
   * config's `shutdownGraceMs`) to finish, then the engine thread is joined, every fd it held is
   * closed, and the access log is flushed and closed. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.#stopping) return this.#stopping;
    if (this.#closed) return Promise.resolve();
    const graceMs = options.graceMs ?? this.#config.shutdownGraceMs;
    const engineStopped = this.#awaitEngine(
      new Promise<void>((resolve) => {
        this.#resolveStopped = resolve;
      }),
    );
    // The last access records arrive with the engine's final batch, so the log closes after it.
    const routingStopped = this.#routing?.stop();
    this.#stopping = engineStopped.then(async () => {
      await routingStopped;
      await this.#access.close();
      this.#logger.info('stopped');
    });
    this.#logger.info({ graceMs }, `stopping: listeners closed, sessions in flight have ${graceMs} ms to finish`);
    this.#health.stop();
    // Nothing can be read or changed while stopping: the admin server goes at once.
    this.#admin.close();
    this.#engine.stop(graceMs);
    return this.#stopping;
  }

  /** The admin server's `http://ip:port/`, when one runs. */
  get adminUrl(): string | undefined {
    return this.#admin.url;
  }

  /** Like net.Server#unref: a running proxy alone no longer keeps the process alive. */
  unref(): this {
    this.#keepAlive?.unref();
    return this;
  }

  ref(): this {
    this.#keepAlive?.ref();
    return this;
  }

  // An unref'd threadsafe function lets the process exit before a queued call is delivered, so
  // it is ref'd exactly while some caller waits for the engine (stats, stop).
  async #awaitEngine<T>(answer: Promise<T>): Promise<T> {
    if (this.#awaiting++ === 0) this.#engine.ref();
    try {
      return await answer;
    } finally {
      if (--this.#awaiting === 0 && !this.#closed) this.#engine.unref();
    }
  }

  #onWake(): void {
    if (this.#closed) return;
    const batch = this.#engine.takeEvents();
    this.#handleLogs(batch);
    for (const change of batch.serverStates ?? []) this.#control.onPassiveChange(change.uid, change.ejected, change.reason);
    if (batch.selects) {
      if (this.#select) this.#select.dispatch(batch.selects, batch.addresses ?? [], batch.requests ?? []);
      else this.#engine.selectReply(balancerReplies(batch.selects));  // parked before a reload removed the hook
    }
    for (const [token, json] of batch.stats ?? []) {
      const waiter = this.#statsWaiters.get(token);
      this.#statsWaiters.delete(token);
      waiter?.(json);
    }
    if (batch.stopped) this.#finishStop();
  }

  #handleLogs(batch: NativeEventBatch): void {
    for (const line of batch.logs ?? []) {
      const { level, msg, ...fields } = JSON.parse(line) as { level: string; msg: string } & Record<string, unknown>;
      if (level === 'access') {
        this.#access.write(fields);
        continue;
      }
      // Everything else, the engine's warning about dropped log lines included, goes to epoxy's
      // logger, whatever the access log's destination.
      const log = level === 'error' ? this.#logger.error : level === 'warn' ? this.#logger.warn : this.#logger.info;
      log.call(this.#logger, fields, msg);
    }
  }

  #finishStop(): void {
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    this.#engine.close();
    this.#resolveStopped?.();
  }

  /** What the admin server may see and do: reads, and the same PoolHandle as proxy.pool(). */
  #adminHost(): AdminHost {
    return {
      stats: () => this.stats(),
      config: () => this.#config,
      pool: (name) => this.pool(name),
      checkStatus: (pool, address) => this.#health.status(pool, address),
      reload: this.#reloadSource,
      startedAt: this.#startedAt,
      hostMap: (map, host) => this.#hostMapAnswer(map, host),
    };
  }

  #hostMapAnswer(map: string, host: string): HostMapAnswer | undefined {
    const routing = this.#routing;
    if (!routing || !routing.hasMap(map)) return undefined;
    const found = routing.resolve(map, host);
    const states = new Map(this.#pools.get(map)?.servers.map((s) => [s.address, stateName(s)]) ?? []);
    return {
      map,
      host: found?.host ?? normalizeHost(host),
      entry: found?.entry ?? null,
      servers: (found?.servers ?? []).map((address) => ({ address, state: states.get(address) ?? 'unknown' })),
      connection: routing.states().maps[map]?.connection ?? 'connecting',
    };
  }

  #makeSelect(config: ResolvedConfig): SelectDispatcher | undefined {
    if (!config.select) return undefined;
    return new SelectDispatcher(
      config.select,
      config.timeouts.selectMs,
      () => this.#config.listeners,
      { resolve: (result) => this.#control.resolveTarget(result), pool: (name) => this.#control.view(name) },
      (pairs) => this.#engine.selectReply(pairs),
      this.#logger,
    );
  }

  /** The config's pools, with the servers of Redis-backed and host-map pools as they are now. */
  #poolsOf(c: ResolvedConfig): ResolvedPool[] {
    return this.#routing ? this.#routing.effectivePools(c.pools) : c.pools;
  }

  #compile(c: ResolvedConfig, plan: PoolPlan): NativeSnapshotSpec {
    const poolIndex = new Map(c.pools.map((p, i) => [p.name, i]));
    const mapIndex = new Map(c.hostMaps.map((m, i) => [m.name, i]));
    const target = (r: { pool: string; hostMap?: string }) => {
      const pool = poolIndex.get(r.pool) ?? 0;
      return r.hostMap === undefined ? { pool } : { pool, hostMap: mapIndex.get(r.hostMap) ?? 0 };
    };
    return {
      listeners: c.listeners.map((l): NativeListenerSpec => {
        const base = {
          name: l.name,
          bind: l.bind,
          backlog: l.backlog,
          maxconn: l.maxconn,
          congestion: l.congestion,
          ...(l.acceptProxy ? { acceptProxy: l.acceptProxy } : {}),
        };
        if (l.mode === 'tcp') {
          if (l.routes.length === 0) return { ...base, mode: 'tcp', pool: poolIndex.get(l.pool) ?? 0 };
          const routes = l.routes.map((r) => ({ host: r.sni, path: '', alpn: r.alpn, ...target(r) }));
          return { ...base, mode: 'tcp', routes };
        }
        const routes = l.routes.map((r) => ({ host: r.host, path: r.path, alpn: '', ...target(r) }));
        return { ...base, mode: 'http', routes };
      }),
      pools: this.#pools.specs(plan.pools),
      hostMaps: this.#routing ? this.#routing.hostMapSpecs(c, poolIndex, uidIn(plan)) : [],
      timeouts: {
        httpRequestMs: c.timeouts.httpRequestMs,
        connectMs: c.timeouts.connectMs,
        clientMs: c.timeouts.clientMs,
        serverMs: c.timeouts.serverMs,
        tunnelMs: c.timeouts.tunnelMs,
        selectMs: c.timeouts.selectMs,
        inspectMs: c.timeouts.inspectMs,
      },
      tuning: tuningOf(c.engine),
      selectHook: c.select !== undefined,
      accessLog: c.accessLog.mode !== 'off',
      // At least one per million: a tiny rate still logs something rather than nothing.
      accessLogSample: Math.max(1, Math.round(c.accessLog.sampleRate * 1_000_000)),
    };
  }

  /** Neither stopping nor stopped. */
  get #running(): boolean {
    return !this.#closed && !this.#stopping;
  }

  #assertRunning(): void {
    if (!this.#running) throw new Error('epoxy: proxy is stopped');
  }
}

/** One human-readable line per listener, with its fields for machines. */
function logListening(logger: Logger, l: ResolvedListener): void {
  const target = l.mode === 'tcp' ? { pool: l.pool } : { routes: l.routes.length };
  const to = l.mode === 'tcp' ? `to pool ${l.pool}` : `${l.routes.length} route${l.routes.length === 1 ? '' : 's'}`;
  const scheme = l.mode === 'http' ? 'http://' : '';
  logger.info({ listener: l.name, bind: l.bind, mode: l.mode, ...target }, `listening: ${l.name} on ${scheme}${l.bind} (${l.mode}, ${to})`);
}

/** Balancer answers (target 0) for every select record of a batch. */
function balancerReplies(records: Uint32Array): Uint32Array {
  const pairs = new Uint32Array((records.length / SELECT_RECORD) * 2);
  for (let i = 0, j = 0; i + SELECT_RECORD <= records.length; i += SELECT_RECORD, j += 2) pairs[j] = records[i]!;
  return pairs;
}

/** A server's engine uid by pool and address, in a plan about to be applied. */
function uidIn(plan: PoolPlan): (pool: string, address: string) => number | undefined {
  const byPool = new Map<string, Map<string, number>>();
  return (pool, address) => {
    let uids = byPool.get(pool);
    if (!uids) {
      uids = new Map((plan.pools.get(pool)?.servers ?? []).map((s) => [s.address, s.uid]));
      byPool.set(pool, uids);
    }
    return uids.get(address);
  };
}

/** The engine settings every snapshot carries (threads and CPUs are fixed at start). */
function tuningOf(engine: ResolvedEngine): NativeSnapshotSpec['tuning'] {
  const { threads: _threads, cpus: _cpus, ...tuning } = engine;
  return tuning;
}
