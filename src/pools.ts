/**
 * The control plane's model of pools and servers. Each server carries its engine uid and three
 * independent facts about whether it may take new sessions: the operator's state (ready, drain,
 * maint), the active checks' verdict (up or down) and the engine's passive observer (ejected).
 * The registry builds the engine's pool specs, answers `pool.pick(key)` with the engine's own
 * hash ring, and matches a reloaded config to the running model (pools by name, servers by
 * address) so that uids, the engine's counters and run-time state survive a reload.
 */
import { normalizeHost } from './config/host.js';
import type { HashKey, ProxyProtocolVersion, ResolvedPool, ServerState } from './config/types.js';
import { ADMIN, BALANCE, HASH_KEY, PROXY_PROTOCOL, native, type NativeHashRing, type NativePoolSpec, type NativeServerSpec } from './native.js';
import type { ServerStateName } from './stats.js';

export { normalizeHost };

export interface ServerModel {
  readonly uid: number;
  readonly address: string;
  weight: number;
  maxconn: number;
  admin: ServerState;
  /** Active health checks' verdict (true when the pool has none). */
  up: boolean;
  /** Passive health: the engine ejected it for a while. */
  ejected: boolean;
  /** The PROXY protocol header sent on each new connection; null: none. */
  readonly proxyProtocol: ProxyProtocolVersion | null;
}

export interface PoolModel {
  readonly uid: number;
  readonly name: string;
  config: ResolvedPool;
  /** In the engine's order: the hash ring depends on it. */
  servers: ServerModel[];
  /** Built on first pick after a change of members or weights. */
  ring: NativeHashRing | undefined;
}

/** The largest uid the engine's select targets can carry (30 bits). */
const MAX_UID = 0x3fffffff;

/** What a config would make of the pools; applied with commit() once the engine took it. */
export interface PoolPlan {
  readonly pools: Map<string, PoolModel>;
  readonly nextUid: number;
}

export class PoolRegistry {
  #pools = new Map<string, PoolModel>();
  #nextUid = 1;

  /** The models `pools` would produce, reusing matching pools and servers; changes nothing. */
  plan(pools: readonly ResolvedPool[]): PoolPlan {
    const next = new Map<string, PoolModel>();
    let uid = this.#nextUid;
    const take = () => {
      if (uid > MAX_UID) throw new Error('epoxy: out of server uids');
      return uid++;
    };
    for (const config of pools) {
      const old = this.#pools.get(config.name);
      const servers = config.servers.map((s): ServerModel => {
        const kept = old?.servers.find((o) => o.address === s.address);
        return {
          uid: kept?.uid ?? take(),
          address: s.address,
          weight: s.weight,
          maxconn: s.maxconn,
          // A state set at run time survives a reload unless the config now says otherwise.
          admin: s.state ?? kept?.admin ?? 'ready',
          up: config.health ? (kept?.up ?? true) : true,
          ejected: kept?.ejected ?? false,
          proxyProtocol: s.proxyProtocol,
        };
      });
      next.set(config.name, { uid: old?.uid ?? take(), name: config.name, config, servers, ring: undefined });
    }
    return { pools: next, nextUid: uid };
  }

  /** Makes a plan the running model (after the engine accepted it). */
  commit(plan: PoolPlan): void {
    this.#pools = plan.pools;
    this.#nextUid = plan.nextUid;
  }

  get(name: string): PoolModel | undefined {
    return this.#pools.get(name);
  }

  names(): string[] {
    return [...this.#pools.keys()];
  }

  all(): IterableIterator<PoolModel> {
    return this.#pools.values();
  }

  newUid(): number {
    if (this.#nextUid > MAX_UID) throw new Error('epoxy: out of server uids');
    return this.#nextUid++;
  }

  /** The pool and server with engine uid `uid`. */
  byUid(uid: number): { pool: PoolModel; server: ServerModel } | undefined {
    for (const pool of this.#pools.values()) {
      const server = pool.servers.find((s) => s.uid === uid);
      if (server) return { pool, server };
    }
    return undefined;
  }

  /** The first server with this address (normalized `ip:port`) in any pool. */
  findServer(address: string): ServerModel | undefined {
    for (const pool of this.#pools.values()) {
      const server = pool.servers.find((s) => s.address === address);
      if (server) return server;
    }
    return undefined;
  }

  specs(pools: Map<string, PoolModel> = this.#pools): NativePoolSpec[] {
    return [...pools.values()].map(poolSpec);
  }
}

export function serverSpec(s: ServerModel): NativeServerSpec {
  return {
    uid: s.uid,
    address: s.address,
    weight: s.weight,
    maxconn: s.maxconn,
    admin: ADMIN[s.admin],
    up: s.up,
    proxyProtocol: PROXY_PROTOCOL[s.proxyProtocol ?? 'none'],
  };
}

function poolSpec(p: PoolModel): NativePoolSpec {
  const c = p.config;
  return {
    uid: p.uid,
    name: p.name,
    balance: BALANCE[c.balance],
    hashKey: HASH_KEY[c.hash?.key ?? 'host'],
    hashHeader: c.hash?.header ?? '',
    retries: c.retries,
    queueTimeoutMs: c.queue.timeoutMs,
    queueLimit: c.queue.limit,
    passive: c.passive ?? { errors: 0, windowMs: 0, ejectMs: 0, count5xx: false },
    congestion: c.congestion,
    servers: p.servers.map(serverSpec),
  };
}

/** Whether a server may take new sessions now (maxconn aside), as the engine decides it. */
export function available(s: ServerModel): boolean {
  return s.admin === 'ready' && s.up && !s.ejected;
}

export function stateName(s: ServerModel): ServerStateName {
  if (s.admin !== 'ready') return s.admin;
  if (!s.up) return 'down';
  return s.ejected ? 'ejected' : 'up';
}

/**
 * The server a hash pool sends `key` to now, by the engine's ring: the key is normalized the
 * way the engine normalizes what it hashes (a host loses case, port and trailing dot; a path
 * its query). Undefined when no server is available.
 */
export function pickByHash(pool: PoolModel, key: string): ServerModel | undefined {
  const hash = pool.config.hash;
  if (!hash) throw new Error(`pool "${pool.name}" does not hash (balance is "${pool.config.balance}"); pick() needs a hash pool`);
  pool.ring ??= new native.HashRing(
    pool.servers.map((s) => s.address),
    pool.servers.map((s) => s.weight),
  );
  const eligible = Uint8Array.from(pool.servers, (s) => (available(s) ? 1 : 0));
  const at = pool.ring.pick(normalizeKey(hash.key, key), eligible);
  return at < 0 ? undefined : pool.servers[at];
}

/** Client addresses are hashed as the engine prints them (`127.0.0.1`, `::1`); headers as sent. */
function normalizeKey(kind: HashKey, key: string): string {
  if (kind === 'host') return normalizeHost(key);
  if (kind === 'path') return key.split('?', 1)[0] ?? '';
  return key;
}
