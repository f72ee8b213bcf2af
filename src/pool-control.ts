/**
 * Live control of the running pools: the PoolHandle behind `proxy.pool(name)` (add, remove,
 * drain, maint, ready, weights, maxconn, pick), the answers of select hooks resolved to engine
 * targets, and every change of a server's state (operator, active checks, passive health)
 * applied to the model and the engine, logged and emitted as a `server` event.
 */
import type { Logger } from 'pino';

import { isIPLiteral, normalizeAddress, parseAddress } from './config/address.js';
import { serverProxyProtocol } from './config/preface-config.js';
import type { PoolView, ProxyProtocolVersion, ServerState } from './config/types.js';
import type { HealthChange } from './health/active.js';
import type { PoolHealthChecks } from './health/pools.js';
import { ADMIN, TARGET_POOL, TARGET_SERVER, type NativeEngine } from './native.js';
import { PoolRegistry, available, pickByHash, serverSpec, stateName, type PoolModel, type ServerModel } from './pools.js';
import type { ServerStateName } from './stats.js';

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
  /** 0: no limit. Default: the pool's `maxconn` (0 when it has none). */
  maxconn?: number;
  /** Default `ready`. */
  state?: ServerState;
  /** The PROXY protocol header sent to it; `false`: none. Default: the pool's `proxyProtocol`. */
  proxyProtocol?: ProxyProtocolVersion | false;
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

/** Membership of a pool kept by Redis (a `{ redis }` pool or a host map's pool); addresses normalized. */
export interface SourcedPool {
  has(address: string): boolean;
  addresses(): string[];
  uid(address: string): number | undefined;
  add(address: string, weight: number): void;
  remove(address: string): boolean;
  setWeight(address: string, weight: number): void;
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

/** What the control needs of its proxy. */
export interface PoolControlContext {
  pools: PoolRegistry;
  engine: Pick<NativeEngine, 'addServer' | 'removeServer' | 'updateServer'>;
  health: PoolHealthChecks;
  logger: Logger;
  /** False once the proxy stops: changes are refused, late health verdicts ignored. */
  running(): boolean;
  emit(event: ServerEvent): void;
}

export class PoolControl {
  readonly #c: PoolControlContext;

  constructor(context: PoolControlContext) {
    this.#c = context;
  }

  /** The handle of pool `name`; throws if there is no such pool. */
  handle(name: string): PoolHandle {
    const pools = this.#c.pools;
    if (!pools.get(name)) throw new Error(`no pool named "${name}" (pools are: ${pools.names().join(', ')})`);
    // The model is looked up on every call: a reload replaces it.
    const model = (): PoolModel => {
      const m = pools.get(name);
      if (!m) throw new Error(`pool "${name}" is gone (removed by a reload)`);
      return m;
    };
    const server = (address: string) => findServer(model(), address);
    return {
      name,
      add: (address, options) => this.#add(operated(model()), address, typeof options === 'number' ? { weight: options } : (options ?? {})),
      remove: (address) => this.#remove(operated(model()), address),
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
   * Membership changes of a pool whose servers come from Redis or a host map (PoolHandle's add
   * and remove refuse those pools: Redis is the truth there). Throws if there is no such pool.
   */
  sourced(name: string): SourcedPool {
    const model = (): PoolModel => {
      const m = this.#c.pools.get(name);
      if (!m) throw new Error(`pool "${name}" is gone (removed by a reload)`);
      return m;
    };
    return {
      has: (address) => model().servers.some((s) => s.address === address),
      addresses: () => model().servers.map((s) => s.address),
      uid: (address) => model().servers.find((s) => s.address === address)?.uid,
      add: (address, weight) => this.#add(model(), address, { weight }),
      remove: (address) => this.#remove(model(), address),
      setWeight: (address, weight) => {
        const m = model();
        const s = m.servers.find((x) => x.address === address);
        if (s && s.weight !== weight) this.#setWeight(m, s, weight);
      },
    };
  }

  /** What a select hook may ask of a pool (ctx.pool(name)). */
  view(name: string): PoolView {
    const handle = this.handle(name);
    return { name, pick: (key) => handle.pick(key), available: () => handle.servers().filter((s) => s.state === 'up').map((s) => s.address) };
  }

  /** A hook's answer: a pool name, or the address of a server in some pool; undefined if neither. */
  resolveTarget(result: string): number | undefined {
    const pool = this.#c.pools.get(result);
    if (pool) return TARGET_POOL | pool.uid;
    const parsed = parseAddress(result);
    if ('error' in parsed) return undefined;
    const server = this.#c.pools.findServer(normalizeAddress(parsed.host, parsed.port));
    return server ? (TARGET_SERVER | server.uid) >>> 0 : undefined;
  }

  /** An active health check's verdict. */
  onCheckChange(change: HealthChange): void {
    const pool = this.#c.pools.get(change.pool);
    const server = pool?.servers.find((s) => s.address === change.address);
    if (!pool || !server || !this.#c.running()) return;
    server.up = change.up;
    this.#c.engine.updateServer({ uid: server.uid, up: change.up });
    this.#announce(pool, server, 'check', change.reason);
  }

  /** The engine ejected a server, or took it back. */
  onPassiveChange(uid: number, ejected: boolean, reason: string): void {
    const found = this.#c.pools.byUid(uid);
    if (!found) return;
    found.server.ejected = ejected;
    this.#announce(found.pool, found.server, 'passive', reason);
  }

  #add(model: PoolModel, address: string, options: AddServerOptions): void {
    this.#assertRunning();
    const normalized = literalAddress(address);
    const weight = checkWeight(model.name, options.weight ?? 1);
    const maxconn = checkMaxconn(model.name, options.maxconn ?? model.config.maxconn);
    const state = options.state ?? 'ready';
    if (!(state in ADMIN)) throw new RangeError(`pool "${model.name}": state must be ready, drain or maint, got ${String(state)}`);
    if (model.servers.some((s) => s.address === normalized)) throw new Error(`pool "${model.name}" already has server ${normalized}`);
    if (options.proxyProtocol !== undefined && options.proxyProtocol !== false && !['v1', 'v2'].includes(options.proxyProtocol)) {
      throw new RangeError(`pool "${model.name}": proxyProtocol must be "v1", "v2" or false, got ${String(options.proxyProtocol)}`);
    }
    const proxyProtocol = serverProxyProtocol(options.proxyProtocol, model.config.proxyProtocol ?? undefined);
    const server: ServerModel = {
      uid: this.#c.pools.newUid(),
      address: normalized,
      weight,
      maxconn,
      admin: state,
      up: true,
      ejected: false,
      proxyProtocol,
    };
    this.#c.engine.addServer(model.uid, serverSpec(server));
    model.servers.push(server);
    model.ring = undefined;
    this.#c.health.sync([model]);
    this.#c.logger.info({ pool: model.name, server: normalized, weight, maxconn, state }, 'server added');
  }

  #remove(model: PoolModel, address: string): boolean {
    this.#assertRunning();
    const normalized = normalizedAddress(address);
    const index = model.servers.findIndex((s) => s.address === normalized);
    if (index < 0) return false;
    this.#c.engine.removeServer(model.servers[index]!.uid);
    model.servers.splice(index, 1);
    model.ring = undefined;
    this.#c.health.sync([model]);
    this.#c.logger.info({ pool: model.name, server: normalized }, 'server removed');
    return true;
  }

  #setAdmin(model: PoolModel, server: ServerModel, state: ServerState): void {
    this.#assertRunning();
    if (server.admin === state) return;
    const leavingMaint = server.admin === 'maint';
    server.admin = state;
    // Out of maintenance, checks start again from "up", as for a new server.
    if (leavingMaint) server.up = true;
    this.#c.engine.updateServer({ uid: server.uid, admin: ADMIN[state], up: server.up });
    this.#c.health.sync([model]);
    this.#announce(model, server, 'admin', `set to ${state}`);
  }

  #setWeight(model: PoolModel, server: ServerModel, weight: number): void {
    this.#assertRunning();
    server.weight = checkWeight(model.name, weight);
    model.ring = undefined;
    this.#c.engine.updateServer({ uid: server.uid, weight: server.weight });
    this.#c.logger.info({ pool: model.name, server: server.address, weight }, 'server weight set');
  }

  #setMaxconn(model: PoolModel, server: ServerModel, maxconn: number): void {
    this.#assertRunning();
    server.maxconn = checkMaxconn(model.name, maxconn);
    this.#c.engine.updateServer({ uid: server.uid, maxconn: server.maxconn });
    this.#c.logger.info({ pool: model.name, server: server.address, maxconn }, 'server maxconn set');
  }

  /** Logs a server's change of state and emits it as a `server` event. */
  #announce(pool: PoolModel, server: ServerModel, source: ServerEvent['source'], reason: string): void {
    const state = stateName(server);
    const fields = { pool: pool.name, server: server.address, state, source, reason };
    // The health checker logs its own verdicts, with the check's details.
    if (source !== 'check') {
      if (available(server)) this.#c.logger.info(fields, `server ${server.address} is ${state}`);
      else this.#c.logger.warn(fields, `server ${server.address} is ${state}`);
    }
    this.#c.emit(fields);
  }

  #assertRunning(): void {
    if (!this.#c.running()) throw new Error('epoxy: proxy is stopped');
  }
}

/** A pool an operator may add servers to and remove them from. */
function operated(model: PoolModel): PoolModel {
  const source = model.config.source;
  if (!source) return model;
  const where = 'redis' in source
    ? `Redis key "${source.redis}" (change it with \`epoxy servers <config> add|remove ${model.name} …\`)`
    : `host map "${source.hostMap}" (change its hosts with \`epoxy hosts <config> …\`)`;
  throw new Error(`pool "${model.name}": its servers come from ${where}; drain, maint, ready and weights work here`);
}

function findServer(model: PoolModel, address: string): ServerModel {
  const normalized = normalizedAddress(address);
  const server = model.servers.find((s) => s.address === normalized);
  if (!server) throw new Error(`pool "${model.name}" has no server ${normalized}`);
  return server;
}

/** `ip:port` normalized when it parses; as given otherwise (it then matches no server). */
function normalizedAddress(address: string): string {
  const parsed = parseAddress(address);
  return 'error' in parsed ? address : normalizeAddress(parsed.host, parsed.port);
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
