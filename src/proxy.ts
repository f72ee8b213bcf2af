/**
 * Proxy: the running epoxy instance. It owns one native engine (one epoll thread), keeps the
 * control-plane model (pools, servers and their engine uids), and turns engine events into
 * logs, stats answers and select-hook calls.
 */
import type { Logger } from 'pino';

import { ConfigError } from './config/errors.js';
import { isIPLiteral, normalizeAddress, parseAddress } from './config/address.js';
import type { EpoxyConfig, ResolvedConfig } from './config/types.js';
import { resolveConfig } from './config/validate.js';
import { createLogger } from './log/logger.js';
import { TARGET_POOL, TARGET_SERVER, native, type NativeEngine, type NativeEventBatch, type NativeSnapshotSpec } from './native.js';
import { SelectDispatcher } from './select.js';
import type { ProxyStats } from './stats.js';

export interface ProxyOptions {
  /** Where epoxy logs (pino). Default: JSON lines on stdout at EPOXY_LOG_LEVEL or info. */
  logger?: Logger;
}

export interface StopOptions {
  /** How long sessions in flight may take to finish before they are cut. Default 10000. */
  graceMs?: number;
}

export interface ServerInfo {
  address: string;
  weight: number;
}

/** Live changes to one pool; they apply to new connections at once, without a restart. */
export interface PoolHandle {
  readonly name: string;
  /** Adds a server (`ip:port` literal). Throws if the address is malformed or already in the pool. */
  add(address: string, weight?: number): void;
  /** Removes a server: it gets no new sessions; sessions using it continue. False if absent. */
  remove(address: string): boolean;
  servers(): ServerInfo[];
}

interface PoolModel {
  uid: number;
  servers: Map<string, { uid: number; weight: number }>;
}

const DEFAULT_GRACE_MS = 10_000;

export class Proxy {
  readonly #engine: NativeEngine;
  readonly #logger: Logger;
  readonly #config: ResolvedConfig;
  readonly #pools = new Map<string, PoolModel>();
  readonly #statsWaiters = new Map<number, (json: string) => void>();
  #nextUid = 1;
  #nextStatsToken = 1;
  #select: SelectDispatcher | undefined;
  #stopping: Promise<void> | undefined;
  #resolveStopped: (() => void) | undefined;
  #closed = false;
  /** Keeps the process alive while the proxy runs, like a listening net.Server; see unref(). */
  #keepAlive: NodeJS.Timeout | undefined = setInterval(() => {}, 1 << 30);
  /** Calls awaiting an engine answer; the TSFN is ref'd only while there are some. */
  #awaiting = 0;

  /** Validates `config`, binds every listener and starts the engine thread. */
  static async start(config: EpoxyConfig, options: ProxyOptions = {}): Promise<Proxy> {
    const result = await resolveConfig(config);
    if (!result.ok) throw new ConfigError(result.issues);
    return new Proxy(result.config, options.logger ?? createLogger());
  }

  private constructor(config: ResolvedConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    for (const pool of config.pools) {
      const servers = new Map(pool.servers.map((s) => [s.address, { uid: this.#nextUid++, weight: s.weight }]));
      this.#pools.set(pool.name, { uid: this.#nextUid++, servers });
    }
    this.#engine = new native.Engine(() => this.#onWake());
    if (config.select) {
      this.#select = new SelectDispatcher(
        config.select,
        config.timeouts.selectMs,
        () => this.#config.listeners.map((l) => l.name),
        { resolve: (result) => this.#resolveTarget(result) },
        (pairs) => this.#engine.selectReply(pairs),
        logger,
      );
    }
    // The threadsafe function stays unref'd: an engine with nothing to say never holds the
    // process open. Only #awaitEngine() refs it, while JS waits for an answer.
    this.#engine.unref();
    try {
      this.#engine.apply(this.#compile());
    } catch (err) {
      this.#engine.close();
      this.#closed = true;
      clearInterval(this.#keepAlive);
      throw err;
    }
    for (const l of config.listeners) {
      const target = l.mode === 'tcp' ? { pool: l.pool } : { routes: l.routes.length };
      logger.info({ listener: l.name, bind: l.bind, mode: l.mode, ...target }, 'listening');
    }
  }

  /** Live changes to a pool; throws if there is no pool of that name. */
  pool(name: string): PoolHandle {
    const model = this.#pools.get(name);
    if (!model) throw new Error(`no pool named "${name}" (pools are: ${[...this.#pools.keys()].join(', ')})`);
    return {
      name,
      add: (address, weight = 1) => this.#addServer(name, model, address, weight),
      remove: (address) => this.#removeServer(model, address),
      servers: () => [...model.servers].map(([address, s]) => ({ address, weight: s.weight })),
    };
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
   * Graceful stop: listeners close at once, sessions in flight get `graceMs` to finish, then
   * the engine thread is joined and every fd it held is closed. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.#stopping) return this.#stopping;
    if (this.#closed) return Promise.resolve();
    this.#stopping = this.#awaitEngine(
      new Promise<void>((resolve) => {
        this.#resolveStopped = resolve;
      }),
    );
    this.#engine.stop(options.graceMs ?? DEFAULT_GRACE_MS);
    return this.#stopping;
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
    if (batch.selects && this.#select) this.#select.dispatch(batch.selects, batch.addresses ?? [], batch.requests ?? []);
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
        this.#logger.info({ access: fields }, 'access');
        continue;
      }
      const log = level === 'error' ? this.#logger.error : level === 'warn' ? this.#logger.warn : this.#logger.info;
      log.call(this.#logger, fields, msg);
    }
  }

  #finishStop(): void {
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    this.#engine.close();
    this.#logger.info('stopped');
    this.#resolveStopped?.();
  }

  #compile(): NativeSnapshotSpec {
    const c = this.#config;
    const poolIndex = new Map(c.pools.map((p, i) => [p.name, i]));
    return {
      listeners: c.listeners.map((l) => {
        const base = { name: l.name, bind: l.bind, backlog: l.backlog };
        if (l.mode === 'tcp') return { ...base, mode: 'tcp' as const, pool: poolIndex.get(l.pool) ?? 0 };
        const routes = l.routes.map((r) => ({ host: r.host, path: r.path, pool: poolIndex.get(r.pool) ?? 0 }));
        return { ...base, mode: 'http' as const, routes };
      }),
      pools: c.pools.map((p) => {
        const model = this.#pools.get(p.name)!;
        return {
          uid: model.uid,
          name: p.name,
          balance: p.balance === 'leastconn' ? 1 : 0,
          retries: p.retries,
          servers: [...model.servers].map(([address, s]) => ({ uid: s.uid, address, weight: s.weight })),
        };
      }),
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
      accessLog: c.accessLog,
    };
  }

  /** A hook's answer: a pool name, or the address of a server in some pool. */
  #resolveTarget(result: string): number | undefined {
    const pool = this.#pools.get(result);
    if (pool) return TARGET_POOL | pool.uid;
    const parsed = parseAddress(result);
    if ('error' in parsed) return undefined;
    const address = normalizeAddress(parsed.host, parsed.port);
    for (const model of this.#pools.values()) {
      const server = model.servers.get(address);
      if (server) return (TARGET_SERVER | server.uid) >>> 0;
    }
    return undefined;
  }

  #addServer(pool: string, model: PoolModel, address: string, weight: number): void {
    this.#assertRunning();
    const normalized = literalAddress(address);
    if (!Number.isInteger(weight) || weight < 1 || weight > 256) {
      throw new RangeError(`pool "${pool}": weight must be an integer 1–256, got ${weight}`);
    }
    if (model.servers.has(normalized)) throw new Error(`pool "${pool}" already has server ${normalized}`);
    const uid = this.#nextUid++;
    this.#engine.addServer(model.uid, { uid, address: normalized, weight });
    model.servers.set(normalized, { uid, weight });
    this.#logger.info({ pool, server: normalized, weight }, 'server added');
  }

  #removeServer(model: PoolModel, address: string): boolean {
    this.#assertRunning();
    const parsed = parseAddress(address);
    const normalized = 'error' in parsed ? address : normalizeAddress(parsed.host, parsed.port);
    const server = model.servers.get(normalized);
    if (!server) return false;
    this.#engine.removeServer(server.uid);
    model.servers.delete(normalized);
    this.#logger.info({ server: normalized }, 'server removed');
    return true;
  }

  #assertRunning(): void {
    if (this.#closed || this.#stopping) throw new Error('epoxy: proxy is stopped');
  }
}

function literalAddress(address: string): string {
  const parsed = parseAddress(address);
  if ('error' in parsed) throw new Error(parsed.error);
  if (!isIPLiteral(parsed.host)) {
    throw new Error(`"${address}": live changes take an IP literal; resolve the host name first`);
  }
  return normalizeAddress(parsed.host, parsed.port);
}
