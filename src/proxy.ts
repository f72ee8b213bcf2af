/**
 * Proxy: the running epoxy instance. It owns one native engine (one epoll thread), keeps the
 * control-plane model (pools, servers and their engine uids), and turns engine events into
 * logs, stats answers and select-hook calls.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

import { ConfigError } from './config/errors.js';
import { isIPLiteral, normalizeAddress, parseAddress } from './config/address.js';
import type { EpoxyConfig, PoolView, ResolvedAdmin, ResolvedConfig, ResolvedListener, ServerState } from './config/types.js';
import { resolveConfig } from './config/validate.js';
import { AccessLog, type AccessLogSwitch } from './log/access.js';
import { createLogger } from './log/logger.js';
import {
  ADMIN,
  SELECT_RECORD,
  TARGET_POOL,
  TARGET_SERVER,
  native,
  type NativeEngine,
  type NativeEventBatch,
  type NativeSnapshotSpec,
} from './native.js';
import { AdminServer } from './admin/server.js';
import type { AdminHost } from './admin/host.js';
import type { HealthChange } from './health/active.js';
import { PoolHealthChecks } from './health/pools.js';
import { PoolRegistry, available, pickByHash, serverSpec, stateName, type PoolModel, type PoolPlan, type ServerModel } from './pools.js';
import { SelectDispatcher } from './select.js';
import type { ProxyStats, ServerStateName } from './stats.js';

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

export interface ServerInfo {
  address: string;
  weight: number;
  /** 0: no limit. */
  maxconn: number;
  /** What it takes now; see ServerStateName. */
  state: ServerStateName;
}

export interface AddServerOptions {
  /** 1–256, default 1. */
  weight?: number;
  /** 0 (default): no limit. */
  maxconn?: number;
  /** Default `ready`. */
  state?: ServerState;
}

/**
 * Live changes to one pool. They apply to new sessions at once, without a restart; sessions in
 * flight keep the server they have. Addresses are `ip:port` literals; methods that name a server
 * throw when the pool has no such server.
 */
export interface PoolHandle {
  readonly name: string;
  /** Adds a server. Throws if the address is malformed or already in the pool. */
  add(address: string, options?: number | AddServerOptions): void;
  /** Removes a server: it gets no new sessions; sessions using it continue. False if absent. */
  remove(address: string): boolean;
  /** No new sessions; the ones in flight finish. Undo with ready(). */
  drain(address: string): void;
  /** No new sessions and no health checks (maintenance). Undo with ready(). */
  maint(address: string): void;
  /** Takes new sessions again (if healthy). */
  ready(address: string): void;
  setWeight(address: string, weight: number): void;
  setMaxconn(address: string, maxconn: number): void;
  /**
   * The address of the server this pool's consistent hash sends `key` to now (a host, path,
   * client address or header value, as the pool hashes), or undefined when no server is
   * available. Throws if the pool does not hash. A select hook returning it reproduces the
   * pool's choice for another key: `proxy.pool('apps').pick(domainFromPath)`.
   */
  pick(key: string): string | undefined;
  servers(): ServerInfo[];
}

/** A server changed what it takes: by health checks, passive health or the operator. */
export interface ServerEvent {
  pool: string;
  server: string;
  state: ServerStateName;
  /** `check` (active health), `passive` (errors seen in traffic), `admin` (drain/maint/ready). */
  source: 'check' | 'passive' | 'admin';
  reason: string;
}

export interface ProxyEvents {
  server: [ServerEvent];
}

/** An admin server replaced by a reload lets its requests in flight (the reload's own) finish. */
const ADMIN_CLOSE_GRACE_MS = 2_000;

export class Proxy extends EventEmitter<ProxyEvents> {
  readonly #engine: NativeEngine;
  readonly #logger: Logger;
  #config: ResolvedConfig;
  readonly #pools = new PoolRegistry();
  readonly #health: PoolHealthChecks;
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
  #admin: AdminServer | undefined;

  /**
   * Validates `config`, binds every listener and the admin server (if configured) and starts the
   * engine thread. A listener or admin bind that fails rejects, with nothing left running.
   */
  static async start(config: EpoxyConfig, options: ProxyOptions = {}): Promise<Proxy> {
    const result = await resolveConfig(config);
    if (!result.ok) throw new ConfigError(result.issues);
    const logger = options.logger ?? createLogger();
    const access = await AccessLog.open(result.config.accessLog, logger);
    let proxy: Proxy;
    try {
      proxy = new Proxy(result.config, logger, access, options.reload);
    } catch (err) {
      await access.close();
      throw err;
    }
    if (result.config.admin) {
      try {
        proxy.#admin = await proxy.#listenAdmin(result.config.admin);
        // Where an operator points a browser (epoxy run prints it at start).
        const url = proxy.#admin.url;
        logger.info({ admin: url, token: result.config.admin.token !== undefined }, `admin: ${url} (dashboard, /stats, /metrics)`);
      } catch (err) {
        await proxy.stop({ graceMs: 0 });
        throw err;
      }
    }
    return proxy;
  }

  private constructor(config: ResolvedConfig, logger: Logger, access: AccessLog, reloadSource: (() => Promise<void>) | undefined) {
    super();
    this.#config = config;
    this.#logger = logger;
    this.#access = access;
    this.#reloadSource = reloadSource;
    this.#health = new PoolHealthChecks(logger, (change) => this.#onCheckChange(change));
    const plan = this.#pools.plan(config.pools);
    this.#engine = new native.Engine(() => this.#onWake());
    this.#select = this.#makeSelect(config);
    // The threadsafe function stays unref'd: an engine with nothing to say never holds the
    // process open. Only #awaitEngine() refs it, while JS waits for an answer.
    this.#engine.unref();
    try {
      this.#engine.apply(this.#compile(config, plan));
      this.#pools.commit(plan);
      this.#health.sync(this.#pools.all());
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
    if (!this.#pools.get(name)) throw new Error(`no pool named "${name}" (pools are: ${this.#pools.names().join(', ')})`);
    // The model is looked up on every call: a reload replaces it.
    const model = (): PoolModel => {
      const m = this.#pools.get(name);
      if (!m) throw new Error(`pool "${name}" is gone (removed by a reload)`);
      return m;
    };
    const server = (address: string) => this.#server(model(), address);
    return {
      name,
      add: (address, options) => this.#addServer(model(), address, typeof options === 'number' ? { weight: options } : (options ?? {})),
      remove: (address) => this.#removeServer(model(), address),
      drain: (address) => this.#setAdmin(model(), server(address), 'drain'),
      maint: (address) => this.#setAdmin(model(), server(address), 'maint'),
      ready: (address) => this.#setAdmin(model(), server(address), 'ready'),
      setWeight: (address, weight) => this.#setWeight(model(), server(address), weight),
      setMaxconn: (address, maxconn) => this.#setMaxconn(model(), server(address), maxconn),
      pick: (key) => pickByHash(model(), key)?.address,
      servers: () =>
        model().servers.map((s) => ({ address: s.address, weight: s.weight, maxconn: s.maxconn, state: stateName(s) })),
    };
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
    // A new admin bind and access log destination are taken first, so that one that fails
    // changes nothing.
    const moving = next.admin !== undefined && next.admin.bind !== this.#admin?.bind;
    let admin: AdminServer | undefined;
    if (moving && next.admin) {
      try {
        admin = await this.#listenAdmin(next.admin);
      } catch (err) {
        log.error({ err }, 'reload rejected, the running config stays');
        throw err;
      }
      if (this.#closed || this.#stopping) {
        void admin.close();
        this.#assertRunning();
      }
    }
    let access: AccessLogSwitch;
    try {
      access = await this.#prepareAccessLog(next, log);
    } catch (err) {
      void admin?.close();
      throw err;
    }
    try {
      this.#assertRunning();
      const plan = this.#pools.plan(next.pools);
      this.#engine.apply(this.#compile(next, plan));
      this.#pools.commit(plan);
    } catch (err) {
      void admin?.close();
      await access.abandon();
      if (!this.#closed && !this.#stopping) log.error({ err }, 'reload rejected, the running config stays');
      throw err;
    }
    access.commit();
    const summary = reloadSummary(this.#config, next);
    this.#config = next;
    this.#select = this.#makeSelect(next);
    this.#health.sync(this.#pools.all());
    this.#swapAdmin(next.admin, admin);
    log.info(summary, 'config reloaded');
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
    if (this.#closed || this.#stopping) return Promise.reject(new Error('epoxy: proxy is stopped'));
    const token = this.#nextStatsToken++;
    return this.#awaitEngine(
      new Promise((resolve) => {
        this.#statsWaiters.set(token, (json) => resolve(JSON.parse(json) as ProxyStats));
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
    this.#stopping = engineStopped.then(async () => {
      await this.#access.close();
      this.#logger.info('stopped');
    });
    this.#logger.info({ graceMs }, `stopping: listeners closed, sessions in flight have ${graceMs} ms to finish`);
    this.#health.stop();
    // Nothing can be read or changed while stopping: the admin server goes at once.
    void this.#admin?.close();
    this.#admin = undefined;
    this.#engine.stop(graceMs);
    return this.#stopping;
  }

  /** The admin server's `http://ip:port/`, when one runs. */
  get adminUrl(): string | undefined {
    return this.#admin?.url;
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
    for (const change of batch.serverStates ?? []) this.#onPassiveChange(change.uid, change.ejected, change.reason);
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

  #listenAdmin(admin: ResolvedAdmin): Promise<AdminServer> {
    return AdminServer.listen(admin, { host: this.#adminHost(), logger: this.#logger.child({ component: 'admin' }) });
  }

  /** After a reload: the new admin server (if it moved) replaces the old, or the token changes. */
  #swapAdmin(next: ResolvedAdmin | undefined, started: AdminServer | undefined): void {
    const old = this.#admin;
    if (started) {
      this.#admin = started;
      void old?.close(ADMIN_CLOSE_GRACE_MS);
      this.#logger.info({ admin: started.url, was: old?.url }, `admin: ${started.url} (dashboard, /stats, /metrics)`);
    } else if (next) {
      old?.setToken(next.token);
    } else if (old) {
      this.#admin = undefined;
      void old.close(ADMIN_CLOSE_GRACE_MS);
      this.#logger.info({ was: old.url }, 'admin server closed');
    }
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
    };
  }

  #makeSelect(config: ResolvedConfig): SelectDispatcher | undefined {
    if (!config.select) return undefined;
    return new SelectDispatcher(
      config.select,
      config.timeouts.selectMs,
      () => this.#config.listeners.map((l) => l.name),
      { resolve: (result) => this.#resolveTarget(result), pool: (name) => this.#poolView(name) },
      (pairs) => this.#engine.selectReply(pairs),
      this.#logger,
    );
  }

  #compile(c: ResolvedConfig, plan: PoolPlan): NativeSnapshotSpec {
    const poolIndex = new Map(c.pools.map((p, i) => [p.name, i]));
    return {
      listeners: c.listeners.map((l) => {
        const base = { name: l.name, bind: l.bind, backlog: l.backlog, maxconn: l.maxconn };
        if (l.mode === 'tcp') return { ...base, mode: 'tcp' as const, pool: poolIndex.get(l.pool) ?? 0 };
        const routes = l.routes.map((r) => ({ host: r.host, path: r.path, pool: poolIndex.get(r.pool) ?? 0 }));
        return { ...base, mode: 'http' as const, routes };
      }),
      pools: this.#pools.specs(plan.pools),
      timeouts: {
        httpRequestMs: c.timeouts.httpRequestMs,
        connectMs: c.timeouts.connectMs,
        clientMs: c.timeouts.clientMs,
        serverMs: c.timeouts.serverMs,
        tunnelMs: c.timeouts.tunnelMs,
        selectMs: c.timeouts.selectMs,
      },
      tuning: { ...c.engine },
      selectHook: c.select !== undefined,
      accessLog: c.accessLog.mode !== 'off',
      // At least one per million: a tiny rate still logs something rather than nothing.
      accessLogSample: Math.max(1, Math.round(c.accessLog.sampleRate * 1_000_000)),
    };
  }

  #poolView(name: string): PoolView {
    const handle = this.pool(name);
    return { name, pick: (key) => handle.pick(key), available: () => handle.servers().filter((s) => s.state === 'up').map((s) => s.address) };
  }

  /** A hook's answer: a pool name, or the address of a server in some pool. */
  #resolveTarget(result: string): number | undefined {
    const pool = this.#pools.get(result);
    if (pool) return TARGET_POOL | pool.uid;
    const parsed = parseAddress(result);
    if ('error' in parsed) return undefined;
    const server = this.#pools.findServer(normalizeAddress(parsed.host, parsed.port));
    return server ? (TARGET_SERVER | server.uid) >>> 0 : undefined;
  }

  #server(model: PoolModel, address: string): ServerModel {
    const parsed = parseAddress(address);
    const normalized = 'error' in parsed ? address : normalizeAddress(parsed.host, parsed.port);
    const server = model.servers.find((s) => s.address === normalized);
    if (!server) throw new Error(`pool "${model.name}" has no server ${normalized}`);
    return server;
  }

  #addServer(model: PoolModel, address: string, options: AddServerOptions): void {
    this.#assertRunning();
    const normalized = literalAddress(address);
    const weight = checkWeight(model.name, options.weight ?? 1);
    const maxconn = checkMaxconn(model.name, options.maxconn ?? 0);
    const state = options.state ?? 'ready';
    if (!(state in ADMIN)) throw new RangeError(`pool "${model.name}": state must be ready, drain or maint, got ${String(state)}`);
    if (model.servers.some((s) => s.address === normalized)) throw new Error(`pool "${model.name}" already has server ${normalized}`);
    const server: ServerModel = { uid: this.#pools.newUid(), address: normalized, weight, maxconn, admin: state, up: true, ejected: false };
    this.#engine.addServer(model.uid, serverSpec(server));
    model.servers.push(server);
    model.ring = undefined;
    this.#health.sync([model]);
    this.#logger.info({ pool: model.name, server: normalized, weight, maxconn, state }, 'server added');
  }

  #removeServer(model: PoolModel, address: string): boolean {
    this.#assertRunning();
    const parsed = parseAddress(address);
    const normalized = 'error' in parsed ? address : normalizeAddress(parsed.host, parsed.port);
    const index = model.servers.findIndex((s) => s.address === normalized);
    if (index < 0) return false;
    this.#engine.removeServer(model.servers[index]!.uid);
    model.servers.splice(index, 1);
    model.ring = undefined;
    this.#health.sync([model]);
    this.#logger.info({ pool: model.name, server: normalized }, 'server removed');
    return true;
  }

  #setAdmin(model: PoolModel, server: ServerModel, state: ServerState): void {
    this.#assertRunning();
    if (server.admin === state) return;
    const leavingMaint = server.admin === 'maint';
    server.admin = state;
    // Out of maintenance, checks start again from "up", as for a new server.
    if (leavingMaint) server.up = true;
    this.#engine.updateServer({ uid: server.uid, admin: ADMIN[state], up: server.up });
    this.#health.sync([model]);
    this.#announce(model, server, 'admin', `set to ${state}`);
  }

  #setWeight(model: PoolModel, server: ServerModel, weight: number): void {
    this.#assertRunning();
    server.weight = checkWeight(model.name, weight);
    model.ring = undefined;
    this.#engine.updateServer({ uid: server.uid, weight: server.weight });
    this.#logger.info({ pool: model.name, server: server.address, weight }, 'server weight set');
  }

  #setMaxconn(model: PoolModel, server: ServerModel, maxconn: number): void {
    this.#assertRunning();
    server.maxconn = checkMaxconn(model.name, maxconn);
    this.#engine.updateServer({ uid: server.uid, maxconn: server.maxconn });
    this.#logger.info({ pool: model.name, server: server.address, maxconn }, 'server maxconn set');
  }

  #onCheckChange(change: HealthChange): void {
    const pool = this.#pools.get(change.pool);
    const server = pool?.servers.find((s) => s.address === change.address);
    if (!pool || !server || this.#closed || this.#stopping) return;
    server.up = change.up;
    this.#engine.updateServer({ uid: server.uid, up: change.up });
    this.#announce(pool, server, 'check', change.reason);
  }

  #onPassiveChange(uid: number, ejected: boolean, reason: string): void {
    const found = this.#pools.byUid(uid);
    if (!found) return;
    found.server.ejected = ejected;
    this.#announce(found.pool, found.server, 'passive', reason);
  }

  /** Logs a server's change of state and emits it as a `server` event. */
  #announce(pool: PoolModel, server: ServerModel, source: ServerEvent['source'], reason: string): void {
    const state = stateName(server);
    const fields = { pool: pool.name, server: server.address, state, source, reason };
    // The health checker logs its own verdicts, with the check's details.
    if (source !== 'check') {
      if (available(server)) this.#logger.info(fields, `server ${server.address} is ${state}`);
      else this.#logger.warn(fields, `server ${server.address} is ${state}`);
    }
    this.emit('server', fields);
  }

  #assertRunning(): void {
    if (this.#closed || this.#stopping) throw new Error('epoxy: proxy is stopped');
  }
}

/** One human-readable line per listener, with its fields for machines. */
function logListening(logger: Logger, l: ResolvedListener): void {
  const target = l.mode === 'tcp' ? { pool: l.pool } : { routes: l.routes.length };
  const to = l.mode === 'tcp' ? `to pool ${l.pool}` : `${l.routes.length} route${l.routes.length === 1 ? '' : 's'}`;
  const scheme = l.mode === 'http' ? 'http://' : '';
  logger.info({ listener: l.name, bind: l.bind, mode: l.mode, ...target }, `listening: ${l.name} on ${scheme}${l.bind} (${l.mode}, ${to})`);
}

function literalAddress(address: string): string {
  const parsed = parseAddress(address);
  if ('error' in parsed) throw new Error(parsed.error);
  if (!isIPLiteral(parsed.host)) {
    throw new Error(`"${address}": live changes take an IP literal; resolve the host name first`);
  }
  return normalizeAddress(parsed.host, parsed.port);
}

function checkWeight(pool: string, weight: number): number {
  if (!Number.isInteger(weight) || weight < 1 || weight > 256) {
    throw new RangeError(`pool "${pool}": weight must be an integer 1–256, got ${weight}`);
  }
  return weight;
}

function checkMaxconn(pool: string, maxconn: number): number {
  if (!Number.isInteger(maxconn) || maxconn < 0 || maxconn > 1_000_000) {
    throw new RangeError(`pool "${pool}": maxconn must be an integer 0–1000000, got ${maxconn}`);
  }
  return maxconn;
}

/** Balancer answers (target 0) for every select record of a batch. */
function balancerReplies(records: Uint32Array): Uint32Array {
  const pairs = new Uint32Array((records.length / SELECT_RECORD) * 2);
  for (let i = 0, j = 0; i + SELECT_RECORD <= records.length; i += SELECT_RECORD, j += 2) pairs[j] = records[i]!;
  return pairs;
}

/** What a reload changed, for its log line. */
function reloadSummary(before: ResolvedConfig, after: ResolvedConfig): Record<string, string[]> {
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
