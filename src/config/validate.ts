/**
 * Turns whatever a config file exported into a ResolvedConfig, or into the complete list of
 * what is wrong with it. Every problem is reported, not just the first: a user fixing a config
 * should not have to run `epoxy check` once per mistake.
 */
import { promises as dns } from 'node:dns';
import { checkAccessLog, resolveAccessLog } from './access-log-config.js';
import { errorCode } from './errors.js';
import { isIPLiteral, isLoopback, normalizeAddress, parseAddress } from './address.js';
import { checkHostCongestion } from './congestion.js';
import { checkAcceptProxy, checkTcpListener, resolveAcceptProxy, resolveTcpRoutes, routeTarget, serverProxyProtocol } from './preface-config.js';
import { checkHostMapRoute, checkRouteTarget, checkSharedRouting, resolveHostMap, resolveRedis, type HostMapNames } from './hostmap-config.js';
import { autoThreads, checkCpus } from './threads.js';
import { checkHealth, resolveHealth } from './health-config.js';
import {
  configSchema,
  describe,
  formatPath,
  fromZodIssues,
  healthFields,
  listenerFields,
  poolFields,
  type BalanceView,
  type ListenerView,
  type ParsedConfig,
  type PoolView,
} from './schema.js';
import type {
  ConfigIssue,
  ResolvedConfig,
  ResolvedListener,
  ResolvedPassive,
  ResolvedPool,
  ResolvedServer,
  ResolvedTimeouts,
} from './types.js';

export type ResolveResult = { ok: true; config: ResolvedConfig } | { ok: false; issues: ConfigIssue[] };

export interface ResolveOptions {
  /** Resolves a host name to one IP address; defaults to the first result of `dns.promises.lookup`. */
  lookup?: (host: string) => Promise<string>;
}

const POOL_NAME = /^[A-Za-z0-9_.-]+$/;
const LOOKUP_TIMEOUT_MS = 5000;

export async function resolveConfig(input: unknown, options: ResolveOptions = {}): Promise<ResolveResult> {
  if (!isRecord(input)) {
    const message = `expected an object with "listeners" and "pools", got ${describe(input)} (does the file \`export default\` its config?)`;
    return { ok: false, issues: [{ path: '', message }] };
  }
  const issues: ConfigIssue[] = [];
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) issues.push(...fromZodIssues(parsed.error.issues));

  // Meaning is checked on every field that is well-formed on its own, even when the shape check
  // failed elsewhere, so one typo does not hide an unknown pool or a bad address.
  const listeners = Array.isArray(input['listeners']) ? input['listeners'].map(listenerFields) : [];
  const pools = isRecord(input['pools'])
    ? Object.entries(input['pools']).map(([name, raw]): [string, PoolView | undefined] => [name, poolFields(raw)])
    : [];
  const addresses = await resolveAllAddresses(input, listeners, pools, options.lookup ?? defaultLookup);

  checkPools(input['pools'], pools, addresses, issues);
  const maps = checkSharedRouting(input, pools.map(([name]) => name), healthFields, issues);
  const binds: BindOwner[] = [];
  checkListeners(listeners, pools, maps, addresses, binds, issues);
  checkAdmin(input, binds, addresses, issues);
  await checkAccessLog(input['accessLog'], issues);
  await checkHostCongestion(input, issues);
  if (isRecord(input['engine'])) checkCpus(input['engine']['cpus'], issues);

  if (issues.length > 0 || !parsed.success) return { ok: false, issues: inConfigOrder(issues, pools) };
  return { ok: true, config: buildConfig(parsed.data, addresses) };
}

// ---- addresses ----

type AddressResult = { address: string } | { error: string };
type AddressMap = Map<string, AddressResult>;

/** Resolves every address in the config at once (DNS lookups in parallel), keyed by field path. */
async function resolveAllAddresses(
  input: Record<string, unknown>,
  listeners: Array<ListenerView | undefined>,
  pools: Array<[string, PoolView | undefined]>,
  lookup: (host: string) => Promise<string>,
): Promise<AddressMap> {
  const jobs: Array<[string, string]> = [];
  listeners.forEach((l, i) => l?.bind !== undefined && jobs.push([`listeners[${i}].bind`, l.bind]));
  for (const [name, pool] of pools) {
    pool?.servers.forEach((s, i) => s && jobs.push([serverPath(name, i), serverText(s)]));
  }
  const admin = input['admin'];
  if (isRecord(admin) && typeof admin['bind'] === 'string') jobs.push(['admin.bind', admin['bind']]);

  const cache = new Map<string, Promise<string>>();
  const cachedLookup = (host: string) => {
    let p = cache.get(host);
    if (!p) cache.set(host, (p = lookup(host)));
    return p;
  };
  const results = await Promise.all(jobs.map(([, text]) => resolveAddress(text, cachedLookup)));
  return new Map(jobs.map(([path], i) => [path, results[i] ?? { error: 'not resolved' }]));
}

async function resolveAddress(text: string, lookup: (host: string) => Promise<string>): Promise<AddressResult> {
  const parsed = parseAddress(text);
  if ('error' in parsed) return parsed;
  if (isIPLiteral(parsed.host)) return { address: normalizeAddress(parsed.host, parsed.port) };
  try {
    return { address: normalizeAddress(await lookup(parsed.host), parsed.port) };
  } catch (err) {
    return { error: `cannot resolve host "${parsed.host}": ${errorCode(err)}` };
  }
}

async function defaultLookup(host: string): Promise<string> {
  // getaddrinfo cannot be cancelled, but a config check must not hang on a dead resolver.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })), LOOKUP_TIMEOUT_MS);
  });
  try {
    return (await Promise.race([dns.lookup(host), timeout])).address;
  } finally {
    clearTimeout(timer);
  }
}

/** The resolved address at `path`, or undefined after recording why it is invalid. */
function addressAt(addresses: AddressMap, path: string, issues: ConfigIssue[]): string | undefined {
  const r = addresses.get(path);
  if (!r) return undefined;
  if ('error' in r) {
    issues.push({ path, message: r.error });
    return undefined;
  }
  return r.address;
}

// ---- pools ----

function checkPools(
  rawPools: unknown,
  pools: Array<[string, PoolView | undefined]>,
  addresses: AddressMap,
  issues: ConfigIssue[],
): void {
  if (isRecord(rawPools) && pools.length === 0) {
    issues.push({ path: 'pools', message: 'must define at least one pool' });
  }
  for (const [name, pool] of pools) {
    const path = formatPath(['pools', name]);
    if (!POOL_NAME.test(name)) {
      issues.push({ path, message: `pool name "${name}" may only contain letters, digits, "_", "." and "-"` });
    }
    if (!pool) continue;
    if (typeof pool.balance === 'object') checkHashBalance(`${path}.balance`, pool.balance, issues);
    if (pool.health) checkHealth(`${path}.health`, pool.health, issues);
    checkServers(name, pool, addresses, issues);
  }
}

// RFC 9110 tchar: what a header field name is made of.
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `header` goes with `hash: "header"` and nothing else, and must be a header name. */
function checkHashBalance(path: string, b: Exclude<BalanceView, string>, issues: ConfigIssue[]): void {
  const at = `${path}.header`;
  if (b.hash !== undefined && b.hash !== 'header' && b.header !== undefined) {
    issues.push({ path: at, message: `is only used with hash "header", not with hash "${b.hash}"` });
  } else if (b.hash === 'header' && !b.given.has('header')) {
    issues.push({ path: at, message: 'is required with hash "header" (the request header to hash, like "x-tenant")' });
  } else if (b.header !== undefined && !HTTP_TOKEN.test(b.header)) {
    const allowed = "letters, digits and !#$%&'*+-.^_`|~";
    issues.push({ path: at, message: `must be a header name (${allowed}), got ${describe(b.header)}` });
  }
}

function checkServers(name: string, pool: PoolView, addresses: AddressMap, issues: ConfigIssue[]): void {
  const seen = new Map<string, number>();
  pool.servers.forEach((s, i) => {
    const path = serverPath(name, i);
    const address = addressAt(addresses, path, issues);
    if (!s || address === undefined) return;
    const first = seen.get(address);
    if (first === undefined) {
      seen.set(address, i);
      return;
    }
    const via = serverText(s) === address ? '' : ` ("${serverText(s)}" resolves to it)`;
    issues.push({ path, message: `duplicate server ${address}${via}: already listed as servers[${first}]` });
  });
}

function serverPath(pool: string, index: number): string {
  return formatPath(['pools', pool, 'servers', index]);
}

function serverText(s: string | { address: string }): string {
  return typeof s === 'string' ? s : s.address;
}

// ---- listeners ----

function checkListeners(
  listeners: Array<ListenerView | undefined>,
  pools: Array<[string, PoolView | undefined]>,
  maps: HostMapNames,
  addresses: AddressMap,
  binds: BindOwner[],
  issues: ConfigIssue[],
): void {
  const poolNames = pools.map(([name]) => name);
  const names = new Map<string, number>();

  listeners.forEach((l, i) => {
    if (!l) return;
    const path = `listeners[${i}]`;
    const firstWithName = l.name === undefined ? undefined : names.get(l.name);
    if (firstWithName !== undefined) {
      issues.push({ path: `${path}.name`, message: `duplicate listener name "${l.name}" (already used by listeners[${firstWithName}])` });
    } else if (l.name !== undefined) {
      names.set(l.name, i);
    }

    const bind = addressAt(addresses, `${path}.bind`, issues);
    if (bind !== undefined && l.bind !== undefined) {
      const owner = { path, name: l.name ?? '', text: l.bind, address: bind };
      const conflict = bindConflict(owner, binds);
      if (conflict) issues.push({ path: `${path}.bind`, message: conflict });
      else binds.push(owner);
    }

    if (l.mode === 'http') {
      checkRoutes(path, l.routes ?? [], poolNames, maps, issues);
    } else if (l.mode === 'tcp') {
      checkTcpListener(path, l, poolNames, (name) => unknownPoolMessage(name, poolNames), normalizeHostPattern, maps, issues);
    }
    checkAcceptProxy(path, l.acceptProxy, issues);
  });
}

const HOST_LABELS = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Lowercase, trailing dot removed; `*.` kept. Undefined when not a host or `*.suffix` pattern. */
export function normalizeHostPattern(pattern: string): string | undefined {
  const lower = pattern.toLowerCase().replace(/\.$/, '');
  const wildcard = lower.startsWith('*.');
  const rest = wildcard ? lower.slice(2) : lower;
  if (isIPLiteral(rest) && !wildcard) return rest;
  return HOST_LABELS.test(rest) ? lower : undefined;
}

function checkRoutes(path: string, routes: unknown[], poolNames: string[], maps: HostMapNames, issues: ConfigIssue[]): void {
  if (routes.length === 0) issues.push({ path: `${path}.routes`, message: 'must contain at least one route' });
  routes.forEach((raw, j) => {
    if (!isRecord(raw)) return;  // the shape check reports it
    const at = `${path}.routes[${j}]`;
    const { host, path: prefix, pool } = raw;
    if (typeof host === 'string' && normalizeHostPattern(host) === undefined) {
      issues.push({ path: `${at}.host`, message: `"${host}" is not a host name or a "*.example.com" pattern` });
    }
    if (typeof prefix === 'string' && !prefix.startsWith('/')) {
      issues.push({ path: `${at}.path`, message: `a path prefix must start with "/", got "${prefix}"` });
    }
    checkHostMapRoute(at, raw, 'host', issues);
    if (checkRouteTarget(at, raw, maps, issues) && typeof pool === 'string' && !poolNames.includes(pool)) {
      issues.push({ path: `${at}.pool`, message: unknownPoolMessage(pool, poolNames) });
    }
  });
}

function unknownPoolMessage(name: string, poolNames: string[]): string {
  if (poolNames.length === 0) return `unknown pool "${name}" (no pools are defined)`;
  return `unknown pool "${name}" (pools are: ${poolNames.join(', ')})`;
}

interface BindOwner {
  path: string;
  name: string;
  /** As written in the config. */
  text: string;
  /** Normalised ip:port. */
  address: string;
}

/** Why `owner` cannot bind next to the earlier binds, or undefined if it can. */
function bindConflict(owner: BindOwner, earlier: BindOwner[]): string | undefined {
  const shown = owner.text === owner.address ? owner.address : `${owner.text} (${owner.address})`;
  for (const other of earlier) {
    const who = `${other.path}${other.name ? ` ("${other.name}")` : ''}`;
    if (other.address === owner.address) return `bind ${shown} is already used by ${who}`;
    if (bindsOverlap(owner.address, other.address)) {
      return `bind ${shown} conflicts with ${who}, which binds ${other.address}`;
    }
  }
  return undefined;
}

/**
 * Two binds on one port collide when either is a wildcard covering the other: 0.0.0.0 covers
 * every IPv4 address, and [::] covers everything because Linux sockets are dual-stack by default.
 */
function bindsOverlap(a: string, b: string): boolean {
  const pa = parseAddress(a);
  const pb = parseAddress(b);
  if ('error' in pa || 'error' in pb || pa.port !== pb.port) return false;
  const v4 = (h: string) => !h.includes(':');
  const covers = (w: string, h: string) => w === '::' || (w === '0.0.0.0' && v4(h));
  return pa.host === pb.host || covers(pa.host, pb.host) || covers(pb.host, pa.host);
}

/**
 * The admin server's bind must not collide with a listener's, and off loopback its runtime API
 * needs a token: anyone who can reach the port could otherwise drain servers or reload.
 */
function checkAdmin(
  input: Record<string, unknown>,
  listenerBinds: BindOwner[],
  addresses: AddressMap,
  issues: ConfigIssue[],
): void {
  const bind = addressAt(addresses, 'admin.bind', issues);
  const admin = input['admin'];
  if (bind === undefined || !isRecord(admin)) return;
  const text = String(admin['bind']);
  const conflict = bindConflict({ path: 'admin', name: '', text, address: bind }, listenerBinds);
  if (conflict) issues.push({ path: 'admin.bind', message: conflict });
  const parsed = parseAddress(bind);
  if (admin['token'] === undefined && !('error' in parsed) && !isLoopback(parsed.host)) {
    const shown = text === bind ? bind : `${text} (${bind})`;
    issues.push({
      path: 'admin.token',
      message:
        `is required because admin.bind ${shown} is not a loopback address: anyone who can reach it could ` +
        'drain servers or reload the config (set a token of at least 16 characters, or bind to 127.0.0.1)',
    });
  }
}

// ---- output ----

/** Only called for a config without issues, so every address in it resolved. */
function buildConfig(data: ParsedConfig, addresses: AddressMap): ResolvedConfig {
  const resolved = (path: string): string => {
    const r = addresses.get(path);
    if (!r || 'error' in r) throw new Error(`internal error: ${path} was not resolved`);
    return r.address;
  };
  const listeners = data.listeners.map((l, i): ResolvedListener => {
    const bind = resolved(`listeners[${i}].bind`);
    const base = {
      name: l.name,
      bind,
      backlog: l.backlog ?? 4096,
      maxconn: l.maxconn ?? 0,
      congestion: l.congestion ?? '',
      acceptProxy: resolveAcceptProxy(l.acceptProxy),
    };
    if (l.mode === 'tcp') {
      return { ...base, mode: 'tcp', pool: l.pool ?? '', routes: resolveTcpRoutes(l.routes, normalizeHostPattern) };
    }
    const routes = l.routes.map((r) => ({
      host: r.host === undefined ? '' : (normalizeHostPattern(r.host) ?? ''),
      path: r.path ?? '',
      ...routeTarget(r),
    }));
    return { ...base, mode: 'http', routes };
  });
  const pools = Object.entries(data.pools).map(([name, p]) => buildPool(name, p, (i) => resolved(serverPath(name, i))));
  const hostMaps = Object.entries(data.hostMaps ?? {}).map(([name, m]) => resolveHostMap(name, m));
  for (const [name, m] of Object.entries(data.hostMaps ?? {})) {
    pools.push({ ...buildPool(name, { ...m.pool, balance: m.balance ?? 'roundrobin', servers: [] }, noAddress), source: { hostMap: name } });
  }
  const config: ResolvedConfig = {
    listeners,
    pools,
    timeouts: resolveTimeouts(data.timeouts ?? {}),
    engine: {
      threads: data.engine?.threads === undefined || data.engine.threads === 'auto' ? autoThreads() : data.engine.threads,
      cpus: data.engine?.cpus ?? [],
      pipeSize: data.engine?.pipeSize ?? 262_144,
      maxPipes: data.engine?.maxPipes ?? 1024,
      spliceThreshold: data.engine?.spliceThreshold ?? 16_384,
      maxHeadBytes: data.engine?.maxHeadBytes ?? 16_384,
      serverIdleMax: data.engine?.serverIdleMax ?? 1000,
      serverIdleMs: data.engine?.serverIdleMs ?? 30_000,
      coalesceUs: data.engine?.coalesceUs ?? 200,
      coalesceSessions: data.engine?.coalesceSessions ?? 64,
    },
    accessLog: resolveAccessLog(data.accessLog),
    shutdownGraceMs: data.shutdownGraceMs ?? 10_000,
    hostMaps,
  };
  if (data.redis) config.redis = resolveRedis(data.redis);
  if (data.select) config.select = data.select;
  if (data.admin) {
    config.admin = { bind: resolved('admin.bind'), latencyWindowMs: data.admin.latencyWindowMs ?? 60_000 };
    if (data.admin.token !== undefined) config.admin.token = data.admin.token;
  }
  return config;
}

type ParsedPool = ParsedConfig['pools'][string];
type ParsedServer = Exclude<ParsedPool['servers'], { redis: string }>[number];

function noAddress(): string {
  throw new Error('internal error: a host map pool lists no servers in the config');
}

function buildPool(name: string, p: ParsedPool, address: (index: number) => string): ResolvedPool {
  const listed = Array.isArray(p.servers) ? p.servers : [];
  const pool: ResolvedPool = {
    name,
    ...resolveBalance(p.balance ?? 'roundrobin'),
    retries: p.retries ?? 3,
    servers: listed.map((s, i) => resolveServer(s, address(i), p)),
    queue: { timeoutMs: p.queue?.timeoutMs ?? 5000, limit: p.queue?.limit ?? 10_000 },
    passive: resolvePassive(p.passive),
    congestion: p.congestion ?? '',
    proxyProtocol: p.proxyProtocol ?? null,
    maxconn: p.maxconn ?? 0,
  };
  if (p.health) pool.health = resolveHealth(p.health);
  if (!Array.isArray(p.servers)) pool.source = { redis: p.servers.redis };
  return pool;
}

function resolveBalance(b: NonNullable<ParsedPool['balance']>): Pick<ResolvedPool, 'balance' | 'hash'> {
  if (typeof b === 'string') return { balance: b };
  return { balance: 'hash', hash: { key: b.hash, header: b.hash === 'header' ? (b.header ?? '').toLowerCase() : '' } };
}

/** A server given as a string takes every default (its pool's). */
function resolveServer(s: ParsedServer, address: string, pool: ParsedPool): ResolvedServer {
  const poolMaxconn = pool.maxconn ?? 0;
  const proxyProtocol = serverProxyProtocol(typeof s === 'string' ? undefined : s.proxyProtocol, pool.proxyProtocol);
  if (typeof s === 'string') return { address, weight: 1, maxconn: poolMaxconn, proxyProtocol };
  const server: ResolvedServer = { address, weight: s.weight ?? 1, maxconn: s.maxconn ?? poolMaxconn, proxyProtocol };
  if (s.state !== undefined) server.state = s.state;
  return server;
}

function resolvePassive(p: ParsedPool['passive']): ResolvedPassive | null {
  if (p === false) return null;
  return {
    errors: p?.errors ?? 5,
    windowMs: p?.windowMs ?? 10_000,
    ejectMs: p?.ejectMs ?? 10_000,
    count5xx: p?.count5xx ?? true,
  };
}

function resolveTimeouts(t: NonNullable<ParsedConfig['timeouts']>): ResolvedTimeouts {
  const clientMs = t.clientMs ?? 30_000;
  return {
    connectMs: t.connectMs ?? 5000,
    clientMs,
    serverMs: t.serverMs ?? 30_000,
    httpRequestMs: t.httpRequestMs ?? 10_000,
    tunnelMs: t.tunnelMs ?? clientMs,
    selectMs: t.selectMs ?? 1000,
    inspectMs: t.inspectMs ?? 5000,
  };
}

// ---- helpers ----

const SECTION_ORDER = ['', 'listeners', 'pools', 'timeouts', 'select', 'accessLog', 'admin', 'shutdownGraceMs', 'engine'];

/**
 * Shape and meaning issues are found in separate passes; report them in the order of the config
 * (by section, then by listener index or pool), which is how a user reads and fixes it.
 */
function inConfigOrder(issues: ConfigIssue[], pools: Array<[string, unknown]>): ConfigIssue[] {
  const poolRank = new Map(pools.map(([name], i) => [formatPath(['pools', name]), i]));
  const rank = (path: string): [number, number] => {
    const section = /^[A-Za-z]*/.exec(path)?.[0] ?? '';
    const s = SECTION_ORDER.indexOf(section);
    if (section === 'listeners') return [s, Number(/^listeners\[(\d+)\]/.exec(path)?.[1] ?? -1)];
    if (section === 'pools') {
      const owner = [...poolRank.keys()].find((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
      return [s, owner === undefined ? -1 : (poolRank.get(owner) ?? -1)];
    }
    return [s < 0 ? SECTION_ORDER.length : s, 0];
  };
  const ranked = issues.map((issue, i) => ({ issue, i, r: rank(issue.path) }));
  ranked.sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.i - b.i);
  return ranked.map((x) => x.issue);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
