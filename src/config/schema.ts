/**
 * The shape of an epoxy config as a zod schema, and the translation of zod's issues into
 * ConfigIssues with readable paths and messages. Meaning (does the pool exist, does the address
 * parse, is the bind taken) is checked afterwards in validate.ts.
 */
import { z } from 'zod';

import { MAX_THREADS } from './threads.js';
import type { ConfigIssue, SelectHook } from './types.js';

export const MAX_MS = 86_400_000;

type ZodIssue = z.core.$ZodIssue;

/** Type errors say "is required" for a missing field rather than "expected X, received undefined". */
function expecting(what: string) {
  return (iss: { input?: unknown }) =>
    iss.input === undefined ? `is required (${what})` : `must be ${what}, got ${describe(iss.input)}`;
}

function intIn(min: number, max: number, unit = '') {
  const error = (iss: { input?: unknown }) =>
    `must be a whole number${unit} from ${min} to ${max}, got ${describe(iss.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

const millis = intIn(1, MAX_MS, ' of milliseconds').optional();
const nonEmpty = (what: string) =>
  z.string({ error: expecting(what) }).min(1, { error: `must not be empty (${what})` });
const address = z.string({ error: expecting('an address string like "127.0.0.1:8080"') });

const maxconn = intIn(0, 1_000_000).optional();
/** A TCP congestion control name as the kernel takes it (TCP_CA_NAME_MAX is 16 with the NUL). */
export const CONGESTION_NAME = /^[a-z0-9_-]{1,15}$/;
const congestionError = (iss: { input?: unknown }) =>
  `must be a TCP congestion control name such as "cubic" (sysctl net.ipv4.tcp_available_congestion_control lists them), got ${describe(iss.input)}`;
const congestion = z.string({ error: congestionError }).regex(CONGESTION_NAME, { error: congestionError }).optional();

const proxyProtocolVersion = z.enum(['v1', 'v2'], { error: expecting('"v1" or "v2"') });

const serverObject = z.strictObject({
  address,
  weight: intIn(1, 256).optional(),
  maxconn,
  state: z.enum(['ready', 'drain', 'maint'], { error: expecting('"ready", "drain" or "maint"') }).optional(),
  proxyProtocol: z
    .union([z.literal('v1'), z.literal('v2'), z.literal(false)], {
      error: (iss) => `must be "v1", "v2" or false (none), got ${describe(iss.input)}`,
    })
    .optional(),
});

// A union of a string and an object: zod reports the branch that matches the value's type, so
// this message only appears when the value is neither.
const server = z.union([address, serverObject], {
  error: (iss) =>
    `must be "host:port" or { address: "host:port", weight?, maxconn?, state? }, got ${describe(iss.input)}`,
});

const balanceName = z.enum(['roundrobin', 'leastconn', 'p2c']);

// Which hash keys go with `header` is a meaning check (validate.ts), so a misplaced or missing
// `header` gets a message about it rather than an "unknown key".
const balanceObject = z.strictObject({
  hash: z.enum(['host', 'path', 'client', 'header'], { error: expecting('"host", "path", "client" or "header"') }),
  header: z.string({ error: expecting('a header name string like "x-tenant"') }).optional(),
});

const balance = z.union([balanceName, balanceObject], {
  error: (iss) =>
    'must be "roundrobin", "leastconn", "p2c", { hash: "host" | "path" | "client" } or ' +
    `{ hash: "header", header: "x-name" }, got ${describe(iss.input)}`,
});

const statusCode = intIn(100, 599);
const expectStatus = z.union(
  [statusCode, z.array(statusCode).min(1, { error: 'must list at least one status' })],
  { error: (iss) => `must be a status code from 100 to 599 or a list of them, got ${describe(iss.input)}` },
);

// Whether path, host and expectStatus suit the check's type, and timeoutMs ≤ intervalMs, are
// meaning checks (validate.ts).
const healthSchema = z.strictObject(
  {
    type: z.enum(['tcp', 'http'], { error: expecting('"tcp" or "http"') }).optional(),
    path: z.string({ error: expecting('a path string like "/healthz"') }).optional(),
    host: z.string({ error: expecting('a host name string like "app.example.com"') }).optional(),
    expectStatus: expectStatus.optional(),
    intervalMs: intIn(100, MAX_MS, ' of milliseconds').optional(),
    timeoutMs: millis,
    rise: intIn(1, 100).optional(),
    fall: intIn(1, 100).optional(),
  },
  { error: expecting('an object like { path: "/healthz" } or { type: "tcp" }') },
);

const passiveObject = z.strictObject({
  errors: intIn(1, 1000).optional(),
  windowMs: millis,
  ejectMs: millis,
  count5xx: z.boolean({ error: (iss) => `must be true or false, got ${describe(iss.input)}` }).optional(),
});

const passive = z.union([z.literal(false), passiveObject], {
  error: (iss) => `must be false (off) or an object like { errors: 5, windowMs: 10000 }, got ${describe(iss.input)}`,
});

const queueSchema = z.strictObject(
  {
    timeoutMs: millis,
    limit: intIn(0, 1_000_000).optional(),
  },
  { error: expecting('an object like { timeoutMs: 5000, limit: 10000 }') },
);

// Servers listed in the config, or kept in Redis (a SET of addresses or a HASH address → weight)
// that every instance of a fleet follows; whether `redis` is configured is a meaning check.
const redisServers = z.strictObject(
  { redis: nonEmpty('a Redis key like "epoxy:pool:apps"') },
  { error: expecting('an object like { redis: "epoxy:pool:apps" }') },
);
const serverList = z.union(
  [z.array(server, { error: expecting('a list of servers') }).min(1, { error: 'must list at least one server' }), redisServers],
  { error: (iss) => `must be a list of servers or { redis: "key" } (servers kept in Redis), got ${describe(iss.input)}` },
);

// Everything a pool takes except its servers and balance: the settings a host map gives the
// pool behind each of its hosts.
const poolSettings = {
  retries: intIn(0, 100).optional(),
  maxconn,
  queue: queueSchema.optional(),
  health: healthSchema.optional(),
  passive: passive.optional(),
  congestion,
  proxyProtocol: proxyProtocolVersion.optional(),
};

export const poolSchema = z.strictObject(
  {
    balance: balance.optional(),
    servers: serverList,
    ...poolSettings,
  },
  { error: expecting('a pool object like { servers: ["127.0.0.1:9001"] }') },
);

const routeSchema = z.strictObject(
  {
    host: z.string({ error: expecting('a host pattern string') }).optional(),
    path: z.string({ error: expecting('a path prefix string') }).optional(),
    pool: nonEmpty('the name of a pool').optional(),
    hostMap: nonEmpty('the name of a host map').optional(),
  },
  { error: expecting('a route object like { pool: "web" }') },
);

// Whether a TCP route's sni is a host pattern and its pool exists are meaning checks (validate.ts).
const tcpRouteSchema = z.strictObject(
  {
    sni: z.string({ error: expecting('an SNI name or "*.example.com" pattern') }).optional(),
    alpn: z
      .string({ error: expecting('an ALPN protocol name like "h2"') })
      .min(1, { error: 'must not be empty (leave alpn out to match any)' })
      .max(255, { error: 'must be at most 255 bytes (an ALPN protocol name)' })
      .optional(),
    pool: nonEmpty('the name of a pool').optional(),
    hostMap: nonEmpty('the name of a host map').optional(),
  },
  { error: expecting('a route object like { sni: "api.example.com", pool: "api" }') },
);

// Whether each trusted entry is an address or range is a meaning check (validate.ts).
const acceptProxyObject = z.strictObject(
  {
    trusted: z
      .array(z.string({ error: expecting('an address or range string like "10.0.0.0/8"') }), {
        error: expecting('a list of addresses or ranges like ["10.0.0.0/8", "127.0.0.1"]'),
      })
      .min(1, { error: 'must list at least one address or range (acceptProxy: true trusts every source)' }),
    timeoutMs: millis,
  },
  { error: expecting('an object like { trusted: ["10.0.0.0/8"] }') },
);

const acceptProxy = z.union([z.literal(true), acceptProxyObject], {
  error: (iss) => `must be true (trust every source) or an object like { trusted: ["10.0.0.0/8"] }, got ${describe(iss.input)}`,
});

const listenerBase = {
  name: nonEmpty('a listener name'),
  bind: address,
  backlog: intIn(1, 65535).optional(),
  maxconn,
  congestion,
  acceptProxy: acceptProxy.optional(),
};

// `pool` or `routes` (not both, not neither) is a meaning check (validate.ts).
const tcpListenerSchema = z.strictObject({
  ...listenerBase,
  mode: z.literal('tcp'),
  pool: nonEmpty('the name of a pool').optional(),
  routes: z.array(tcpRouteSchema, { error: expecting('a list of routes') }).optional(),
});

const httpListenerSchema = z.strictObject({
  ...listenerBase,
  mode: z.literal('http'),
  routes: z.array(routeSchema, { error: expecting('a list of routes') }),
});

export const listenerSchema = z.discriminatedUnion('mode', [tcpListenerSchema, httpListenerSchema], {
  error: (iss) =>
    iss.code === 'invalid_union' ? 'must be "tcp" or "http"' : expecting('a listener object')(iss),
});

const timeoutsSchema = z.strictObject(
  {
    connectMs: millis,
    clientMs: millis,
    serverMs: millis,
    httpRequestMs: millis,
    tunnelMs: millis,
    selectMs: millis,
    inspectMs: millis,
  },
  { error: expecting('an object of timeouts in milliseconds') },
);

export const MIN_TOKEN_LENGTH = 16;

// Messages about the token never quote it: it is a secret, and config errors end up in logs.
const tokenSchema = z
  .string({
    error: (iss) =>
      `must be a string of at least ${MIN_TOKEN_LENGTH} visible ASCII characters, got ${iss.input === undefined ? 'nothing' : typeof iss.input}`,
  })
  .superRefine((token, ctx) => {
    const problem = tokenProblem(token);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Why a token is not acceptable (one reason), or undefined. */
function tokenProblem(token: string): string | undefined {
  if (token === '') return 'must not be empty (leave token out to have none)';
  if (!/^[\x21-\x7e]+$/.test(token)) return 'must hold only visible ASCII characters (no spaces, control or non-ASCII characters)';
  if (token.length < MIN_TOKEN_LENGTH) {
    return `must be at least ${MIN_TOKEN_LENGTH} characters long, got ${token.length}: a short token is easy to guess`;
  }
  return undefined;
}

const adminSchema = z.strictObject(
  { bind: address, token: tokenSchema.optional(), latencyWindowMs: intIn(1_000, 3_600_000, ' of milliseconds').optional() },
  { error: expecting('an object like { bind: "127.0.0.1:9900" }') },
);

// Whether sampleRate suits the mode, and whether the destination's directory is writable, are
// meaning checks (validate.ts).
const rateError = (iss: { input?: unknown }) => `must be a number above 0 and at most 1, got ${describe(iss.input)}`;
const accessLogObject = z.strictObject({
  mode: z.enum(['off', 'sampled', 'full'], { error: expecting('"off", "sampled" or "full"') }).optional(),
  sampleRate: z.number({ error: rateError }).gt(0, { error: rateError }).lte(1, { error: rateError }).optional(),
  destination: nonEmpty('"stdout" or a file path').optional(),
});

const accessLog = z.union([z.boolean(), accessLogObject], {
  error: (iss) =>
    `must be true, false or an object like { mode: "sampled", sampleRate: 0.1, destination: "/var/log/epoxy/access.log" }, got ${describe(iss.input)}`,
});

const threadsError = (iss: { input?: unknown }) => `must be "auto" or a whole number from 1 to ${MAX_THREADS}, got ${describe(iss.input)}`;

const engineSchema = z.strictObject(
  {
    threads: z
      .union(
        [
          z.literal('auto', { error: threadsError }),
          z.number({ error: threadsError }).int({ error: threadsError }).min(1, { error: threadsError }).max(MAX_THREADS, { error: threadsError }),
        ],
        { error: threadsError },
      )
      .optional(),
    cpus: z
      .array(intIn(0, 4095), { error: expecting('a list of CPU numbers like [0, 1, 2, 3]') })
      .min(1, { error: 'must list at least one CPU (or leave cpus out)' })
      .optional(),
    pipeSize: intIn(4096, 1_048_576).optional(),
    maxPipes: intIn(0, 65_536).optional(),
    spliceThreshold: intIn(1024, 1_048_576).optional(),
    maxHeadBytes: intIn(1024, 16_384).optional(),
    serverIdleMax: intIn(0, 10_000).optional(),
    serverIdleMs: intIn(1, 86_400_000).optional(),
    coalesceUs: intIn(0, 10_000).optional(),
    coalesceSessions: intIn(1, 1_000_000).optional(),
  },
  { error: expecting('an object of engine settings') },
);

// Whether the URL parses and the key template holds {host} are meaning checks (hostmap-config.ts).
const redisSchema = z.strictObject(
  {
    url: nonEmpty('a URL like "redis://127.0.0.1:6379/0" or "rediss://…"'),
    channel: nonEmpty('a pub/sub channel name').optional(),
    resyncMs: intIn(100, MAX_MS, ' of milliseconds').optional(),
  },
  { error: expecting('an object like { url: "redis://127.0.0.1:6379" }') },
);

const hostMapPool = z.strictObject(poolSettings, { error: expecting('an object of pool settings like { retries: 2 }') });

const hostMapSchema = z.strictObject(
  {
    key: nonEmpty('a key template holding "{host}", like "hostnames:{host}:backends"').optional(),
    format: z.enum(['set', 'hipache'], { error: expecting('"set" or "hipache"') }).optional(),
    balance: z.enum(['roundrobin', 'leastconn', 'p2c'], { error: expecting('"roundrobin", "leastconn" or "p2c"') }).optional(),
    pool: hostMapPool.optional(),
    cacheFile: nonEmpty('a file path').optional(),
  },
  { error: expecting('a host map object like { key: "hostnames:{host}:backends" }') },
);

const selectSchema = z.custom<SelectHook>((v) => typeof v === 'function', {
  error: (iss) => `must be a function, got ${describe(iss.input)}`,
});

export const configSchema = z.strictObject({
  listeners: z
    .array(listenerSchema, { error: expecting('a list of listeners') })
    .min(1, { error: 'must contain at least one listener' }),
  pools: z.record(z.string(), poolSchema, { error: expecting('an object mapping pool names to pools') }),
  timeouts: timeoutsSchema.optional(),
  select: selectSchema.optional(),
  accessLog: accessLog.optional(),
  admin: adminSchema.optional(),
  shutdownGraceMs: intIn(0, 3_600_000, ' of milliseconds').optional(),
  engine: engineSchema.optional(),
  redis: redisSchema.optional(),
  hostMaps: z.record(z.string(), hostMapSchema, { error: expecting('an object mapping host map names to host maps') }).optional(),
});

export type ParsedConfig = z.infer<typeof configSchema>;

// Field-by-field views of a listener and a pool. validate.ts checks meaning on whatever fields
// are well-formed, so one shape error does not hide an unknown pool or a bad address next to it.
const listenerView = {
  name: listenerBase.name,
  bind: address,
  mode: z.enum(['tcp', 'http']),
  pool: tcpListenerSchema.shape.pool,
  routes: z.array(z.unknown()),
  acceptProxy: z.unknown(),
};

type FieldsOf<S extends Record<string, z.ZodType>> = { [K in keyof S]?: z.output<S[K]> };

/**
 * The well-formed fields of a nested object, and which keys it gives a value for at all: a
 * check that depends on a default (`timeoutMs` ≤ the default `intervalMs`) must not run when
 * the field is there but malformed (already reported by the shape check).
 */
export type ObjectView<S extends Record<string, z.ZodType>> = FieldsOf<S> & { given: ReadonlySet<string> };

export type ListenerView = ObjectView<typeof listenerView>;
export type BalanceName = z.output<typeof balanceName>;
export type BalanceView = BalanceName | ObjectView<typeof balanceObject.shape>;
export type HealthView = ObjectView<typeof healthSchema.shape>;
export type AccessLogView = ObjectView<typeof accessLogObject.shape>;

export interface PoolView {
  balance?: BalanceView;
  /** Each server's address as written, when it is a string. */
  servers: Array<string | undefined>;
  health?: HealthView;
}

/** The fields of `raw` that are valid on their own; undefined if `raw` is not an object. */
function pickValid<S extends Record<string, z.ZodType>>(raw: unknown, shape: S): FieldsOf<S> | undefined {
  if (!isObject(raw)) return undefined;
  const out: FieldsOf<S> = {};
  for (const key of Object.keys(shape) as Array<keyof S & string>) {
    const r = shape[key]?.safeParse(raw[key]);
    if (r?.success && r.data !== undefined) out[key] = r.data as z.output<S[typeof key]>;
  }
  return out;
}

function objectView<S extends Record<string, z.ZodType>>(raw: unknown, shape: S): ObjectView<S> | undefined {
  const fields = pickValid(raw, shape);
  if (!fields || !isObject(raw)) return undefined;
  const given = new Set(Object.keys(raw).filter((key) => raw[key] !== undefined));
  return { ...fields, given };
}

/** The well-formed fields of an `accessLog` object; undefined for a boolean or a malformed value. */
export function accessLogFields(raw: unknown): AccessLogView | undefined {
  return objectView(raw, accessLogObject.shape);
}

export function listenerFields(raw: unknown): ListenerView | undefined {
  return objectView(raw, listenerView);
}

export function healthFields(raw: unknown): HealthView | undefined {
  return objectView(raw, healthSchema.shape);
}

export function poolFields(raw: unknown): PoolView | undefined {
  if (!isObject(raw)) return undefined;
  const view: PoolView = { servers: Array.isArray(raw['servers']) ? raw['servers'].map(serverAddress) : [] };
  const balanceView = balanceFields(raw['balance']);
  if (balanceView !== undefined) view.balance = balanceView;
  const health = objectView(raw['health'], healthSchema.shape);
  if (health) view.health = health;
  return view;
}

/** A server's address text, also from a server object that is malformed elsewhere. */
function serverAddress(raw: unknown): string | undefined {
  const text = isObject(raw) ? raw['address'] : raw;
  return typeof text === 'string' ? text : undefined;
}

function balanceFields(raw: unknown): BalanceView | undefined {
  const name = balanceName.safeParse(raw);
  return name.success ? name.data : objectView(raw, balanceObject.shape);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Known keys by position in the config, for "did you mean" hints on unknown keys.
// `#` stands for an array index, `*` for a pool name.
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(configSchema.shape),
  'listeners/#': [...new Set([...Object.keys(tcpListenerSchema.shape), ...Object.keys(httpListenerSchema.shape)])],
  'listeners/#/routes/#': [...new Set([...Object.keys(routeSchema.shape), ...Object.keys(tcpRouteSchema.shape)])],
  'listeners/#/acceptProxy': Object.keys(acceptProxyObject.shape),
  'pools/*': Object.keys(poolSchema.shape),
  'pools/*/servers': Object.keys(redisServers.shape),
  'pools/*/servers/#': Object.keys(serverObject.shape),
  'pools/*/balance': Object.keys(balanceObject.shape),
  'pools/*/queue': Object.keys(queueSchema.shape),
  'pools/*/health': Object.keys(healthSchema.shape),
  'pools/*/passive': Object.keys(passiveObject.shape),
  timeouts: Object.keys(timeoutsSchema.shape),
  admin: Object.keys(adminSchema.shape),
  accessLog: Object.keys(accessLogObject.shape),
  engine: Object.keys(engineSchema.shape),
  redis: Object.keys(redisSchema.shape),
  'hostMaps/*': Object.keys(hostMapSchema.shape),
  'hostMaps/*/pool': Object.keys(hostMapPool.shape),
  'hostMaps/*/pool/queue': Object.keys(queueSchema.shape),
  'hostMaps/*/pool/health': Object.keys(healthSchema.shape),
  'hostMaps/*/pool/passive': Object.keys(passiveObject.shape),
};

/** Translates zod's issues; an unknown-keys issue becomes one issue per key, at that key. */
export function fromZodIssues(issues: readonly ZodIssue[]): ConfigIssue[] {
  return issues.flatMap((iss): ConfigIssue[] => {
    if (iss.code === 'unrecognized_keys') {
      return iss.keys.map((key) => ({
        path: formatPath([...iss.path, key]),
        message: unknownKeyMessage(key, KNOWN_KEYS[positionOf(iss.path)] ?? []),
      }));
    }
    if (iss.code === 'invalid_union') {
      // zod gives up on a union when the error in the right branch is a type error (a weight of
      // "2"); the right branch is the one whose value matched at the top, so report its issues.
      const matched = iss.errors.filter((branch) => branch.length > 0 && branch.every(matchesAtTop));
      if (matched.length === 1 && matched[0]) {
        return fromZodIssues(matched[0].map((e) => ({ ...e, path: [...iss.path, ...e.path] })));
      }
    }
    return [{ path: formatPath(iss.path), message: iss.message.replace(/^Invalid input: /, '') }];
  });
}

const TYPE_MISMATCH = new Set<string>(['invalid_type', 'invalid_value', 'invalid_union']);

/**
 * An issue of a union branch whose value had the branch's type: one inside the value, or about
 * the value as a whole but not its type (an empty list, an unknown key).
 */
function matchesAtTop(iss: ZodIssue): boolean {
  return iss.path.length > 0 || !TYPE_MISMATCH.has(iss.code);
}

function positionOf(path: readonly PropertyKey[]): string {
  return path
    .map((seg, i) => (typeof seg === 'number' ? '#' : i === 1 && (path[0] === 'pools' || path[0] === 'hostMaps') ? '*' : String(seg)))
    .join('/');
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const guess = closest(key, known);
  if (guess) return `unknown key "${key}" (did you mean "${guess}"?)`;
  return known.length ? `unknown key "${key}" (allowed: ${known.join(', ')})` : `unknown key "${key}"`;
}

/** The known word within a small edit distance of `word`, if any: catches typos like "balnce". */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance where swapping two neighbours ("bnid" for "bind") counts as one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** `listeners[0].pool`, `pools.web.servers[1]`; keys that are not plain words are quoted: `pools["a b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(String(seg))) out += out ? `.${String(seg)}` : String(seg);
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/** A short description of a value for messages: `number 3`, `string "x"`, `an array`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (typeof value === 'function') return 'a function';
  return `an ${typeof value}`;
}
