/**
 * SharedRouting: the proxy's side of the routing a fleet shares in Redis (issue 16). It owns the
 * HostMapSource (the in-memory copy kept in step with Redis), gives Redis-backed pools and host
 * maps' pools their servers, and turns the copy's per-host diffs into engine changes, in an
 * order the engine can follow: servers a host now names are added to the map's pool first,
 * then one setHosts batch per map (the diffs of one tick coalesced), then servers no host names
 * any more are removed. A request in flight keeps the entry it matched (the engine holds it).
 */
import type { Logger } from 'pino';

import type { ResolvedConfig, ResolvedPool, ResolvedServer } from './config/types.js';
import {
  HostMapSource, type HostMapSourceStates, type HostResolution, type PoolSourceSettings, type WeightedServer,
} from './hostmaps/index.js';
import { BALANCE, HOST_REMOVED, type NativeHostBatch, type NativeHostMapSpec } from './native.js';
import type { SourcedPool } from './pool-control.js';

/** What the routing changes in the running proxy. */
export interface RoutingTarget {
  sourced(pool: string): SourcedPool;
  setHosts(mapUid: number, batch: NativeHostBatch): void;
  running(): boolean;
}

interface PendingHost {
  before: readonly string[] | null;
  after: readonly string[] | null;
}

interface MapState {
  readonly uid: number;
  readonly name: string;
  /** Address → how many hosts name it: the map's pool holds exactly the addresses here. */
  readonly refs: Map<string, number>;
  /** Diffs since the last flush, by host; `before` is the host's servers at the last flush. */
  pending: Map<string, PendingHost>;
  initialSent: boolean;
}

export class SharedRouting {
  readonly #source: HostMapSource;
  readonly #log: Logger;
  readonly #maps = new Map<string, MapState>();
  #target: RoutingTarget | undefined;
  #flushQueued = false;

  /** Loads every host map and Redis-backed pool (or their fallbacks) before resolving; undefined without `redis`. */
  static async open(config: ResolvedConfig, logger: Logger): Promise<SharedRouting | undefined> {
    if (!config.redis) return undefined;
    const routing = new SharedRouting(config, logger);
    try {
      await routing.#source.start();
    } catch (err) {
      await routing.#source.stop();
      throw err;
    }
    routing.#countInitial();
    return routing;
  }

  private constructor(config: ResolvedConfig, logger: Logger) {
    this.#log = logger;
    const redis = config.redis!;
    const pools: PoolSourceSettings[] = config.pools.flatMap((p) => (p.source && 'redis' in p.source ? [{ pool: p.name, key: p.source.redis }] : []));
    config.hostMaps.forEach((m, i) => {
      this.#maps.set(m.name, { uid: i + 1, name: m.name, refs: new Map(), pending: new Map(), initialSent: false });
    });
    this.#source = new HostMapSource({
      redis,
      hostMaps: config.hostMaps,
      pools,
      logger,
      onHost: (map, host, servers, before) => this.#onHost(map, host, servers, before),
      onPool: (pool, servers) => this.#onPool(pool, servers),
    });
  }

  /** From now on diffs change `target`; before, the initial copy goes into the first snapshot. */
  attach(target: RoutingTarget): void {
    this.#target = target;
  }

  /** `pools` with the servers of Redis-backed and host-map pools filled in from the copy. */
  effectivePools(pools: readonly ResolvedPool[]): ResolvedPool[] {
    return pools.map((p) => {
      if (!p.source) return p;
      const members: WeightedServer[] = 'redis' in p.source
        ? [...(this.#source.pool(p.name) ?? [])]
        : [...(this.#maps.get(p.source.hostMap)?.refs.keys() ?? [])].sort().map((address) => ({ address, weight: 1 }));
      return { ...p, servers: members.map((m) => sourcedServer(p, m)) };
    });
  }

  /**
   * The engine's host-map specs; the first snapshot that names a map carries its whole copy
   * (`uid` gives a server's engine uid in the map's pool, from the plan about to be applied).
   */
  hostMapSpecs(config: ResolvedConfig, poolIndex: ReadonlyMap<string, number>, uid: (pool: string, address: string) => number | undefined): NativeHostMapSpec[] {
    return config.hostMaps.map((m) => {
      const state = this.#maps.get(m.name);
      if (!state) throw new Error(`internal error: host map "${m.name}" has no state`);
      const spec: NativeHostMapSpec = { uid: state.uid, name: m.name, pool: poolIndex.get(m.name) ?? 0, balance: BALANCE[m.balance] };
      if (!state.initialSent) {
        spec.initial = batchOf(this.#source.entries(m.name), (address) => uid(m.name, address));
        state.initialSent = true;
      }
      return spec;
    });
  }

  /** Where this instance sends `host` in `map` now: the entry that matched and its servers. */
  resolve(map: string, host: string): HostResolution | undefined {
    return this.#source.resolve(map, host);
  }

  hasMap(map: string): boolean {
    return this.#maps.has(map);
  }

  states(): HostMapSourceStates {
    return this.#source.states();
  }

  /** A full resync now (tests, the admin API). */
  resync(): Promise<void> {
    return this.#source.resync();
  }

  async stop(): Promise<void> {
    this.#target = undefined;
    await this.#source.stop();
  }

  /** The reference counts of the copy loaded at start. */
  #countInitial(): void {
    for (const state of this.#maps.values()) {
      for (const [, servers] of this.#source.entries(state.name)) for (const a of servers) state.refs.set(a, (state.refs.get(a) ?? 0) + 1);
    }
  }

  #onHost(map: string, host: string, after: readonly string[] | null, before: readonly string[] | null): void {
    const state = this.#maps.get(map);
    if (!state) return;
    const earlier = state.pending.get(host);
    state.pending.set(host, { before: earlier ? earlier.before : before, after });
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      for (const s of this.#maps.values()) this.#flush(s);
    });
  }

  #flush(state: MapState): void {
    const pending = state.pending;
    if (pending.size === 0) return;
    state.pending = new Map();
    const target = this.#target;
    const touched = new Set<string>();
    for (const { before, after } of pending.values()) {
      for (const a of after ?? []) {
        state.refs.set(a, (state.refs.get(a) ?? 0) + 1);
        touched.add(a);
      }
      for (const b of before ?? []) {
        state.refs.set(b, (state.refs.get(b) ?? 1) - 1);
        touched.add(b);
      }
    }
    if (!target || !target.running()) {
      for (const a of touched) if ((state.refs.get(a) ?? 0) <= 0) state.refs.delete(a);
      return;
    }
    const pool = target.sourced(state.name);
    for (const a of touched) {
      if ((state.refs.get(a) ?? 0) > 0 && !pool.has(a)) this.#tryChange(() => pool.add(a, 1), state.name, a, 'add');
    }
    target.setHosts(state.uid, batchOf(pendingEntries(pending), (address) => pool.uid(address)));
    for (const a of touched) {
      if ((state.refs.get(a) ?? 0) > 0) continue;
      state.refs.delete(a);
      if (pool.has(a)) this.#tryChange(() => pool.remove(a), state.name, a, 'remove');
    }
  }

  /** A Redis-backed pool's whole membership, as it is now in Redis. */
  #onPool(name: string, members: readonly WeightedServer[]): void {
    const target = this.#target;
    if (!target || !target.running()) return;
    const pool = target.sourced(name);
    const wanted = new Map(members.map((m) => [m.address, m.weight]));
    for (const [address, weight] of wanted) {
      if (pool.has(address)) this.#tryChange(() => pool.setWeight(address, weight), name, address, 'weight');
      else this.#tryChange(() => pool.add(address, weight), name, address, 'add');
    }
    for (const address of pool.addresses()) {
      if (!wanted.has(address)) this.#tryChange(() => pool.remove(address), name, address, 'remove');
    }
  }

  #tryChange(change: () => unknown, pool: string, server: string, what: string): void {
    try {
      change();
    } catch (err) {
      this.#log.error({ pool, server, err }, `hostmaps: cannot ${what} server ${server} in pool ${pool}`);
    }
  }
}

function sourcedServer(pool: ResolvedPool, m: WeightedServer): ResolvedServer {
  return { address: m.address, weight: m.weight, maxconn: pool.maxconn, proxyProtocol: pool.proxyProtocol };
}

function* pendingEntries(pending: ReadonlyMap<string, PendingHost>): IterableIterator<[string, readonly string[] | null]> {
  for (const [host, { after }] of pending) yield [host, after];
}

/** Hosts in the engine's flat form; a server with no uid (not in the pool) is left out. */
function batchOf(entries: Iterable<[string, readonly string[] | null]>, uid: (address: string) => number | undefined): NativeHostBatch {
  const hosts: string[] = [];
  const counts: number[] = [];
  const servers: number[] = [];
  for (const [host, list] of entries) {
    hosts.push(host);
    if (list === null) {
      counts.push(HOST_REMOVED);
      continue;
    }
    let n = 0;
    for (const address of list) {
      const id = uid(address);
      if (id === undefined) continue;
      servers.push(id);
      n++;
    }
    counts.push(n);
  }
  return { hosts, counts: Uint32Array.from(counts), servers: Uint32Array.from(servers) };
}
