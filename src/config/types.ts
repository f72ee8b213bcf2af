/**
 * The public configuration of epoxy: what a user writes in `epoxy.config.ts`.
 * These types are the first documentation a user reads; keep them precise.
 */

/** `host:port` with an IPv4 literal, `[v6]:port`, or a host name resolved when the config loads. */
export type Address = string;

/** What a consistent-hash balancer hashes. */
export type HashKey = 'host' | 'path' | 'client' | 'header';

/**
 * How a pool chooses a server for each new TCP connection or HTTP request:
 * - `roundrobin`: smooth weighted round robin (nginx's): weights 5,1,1 give a,a,b,a,c,a,a.
 * - `leastconn`: fewest active sessions relative to weight; ties go round the list.
 * - `p2c`: random power-of-two-choices: two distinct random servers, the less loaded
 *   (relative to weight) wins. Nearly leastconn's spread without its herd on a recovered server.
 * - `{ hash: 'host' | 'path' | 'client' }` or `{ hash: 'header', header: 'x-tenant' }`:
 *   consistent hashing on a ring with 100 virtual nodes per unit of weight, so a key keeps its
 *   server while that server is up, and adding or removing one of N servers moves only about
 *   1/N of the keys (never between two unchanged servers). `host` hashes the normalized Host
 *   (lowercase, no port, no trailing dot), `path` the request path without its query, `client`
 *   the client's IP address, `header` the named header's value. When the key is missing (a TCP
 *   connection for `host`, `path` or `header`; an absent header) the pool falls back to
 *   roundrobin. `proxy.pool(name).pick(key)` answers which server a key goes to. The header
 *   name is an HTTP token, matched case-insensitively.
 */
export type Balance =
  | 'roundrobin'
  | 'leastconn'
  | 'p2c'
  | { hash: 'host' | 'path' | 'client' }
  | { hash: 'header'; header: string };

/**
 * A server's administrative state: `ready` takes new sessions; `drain` takes none but lets the
 * ones in flight finish (health checks go on); `maint` takes none and is not checked.
 */
export type ServerState = 'ready' | 'drain' | 'maint';

export interface ServerConfig {
  /** Where the server listens. Unique within its pool (after host names are resolved). */
  address: Address;
  /** Relative share of new connections (1–256, default 1). 0 is not allowed: remove or drain instead. */
  weight?: number;
  /**
   * Most sessions (TCP connections or HTTP requests in flight) at once; more wait in the pool's
   * queue. 0–1000000; 0 means no limit. Default: the pool's `maxconn`.
   */
  maxconn?: number;
  /**
   * Administrative state set by the config. Default `ready`. When omitted, a reload keeps a state
   * set at run time (`pool.drain()`); when given, a reload applies it.
   */
  state?: ServerState;
  /** The PROXY protocol header sent to this server; `false`: none. Default: the pool's `proxyProtocol`. */
  proxyProtocol?: ProxyProtocolVersion | false;
}

/**
 * A PROXY protocol version (haproxy's doc/proxy-protocol.txt): `v1` is a text line
 * (`PROXY TCP4 203.0.113.7 10.0.0.1 51000 443`), `v2` a binary header that may carry TLVs.
 */
export type ProxyProtocolVersion = 'v1' | 'v2';

/**
 * Active health checks, run from the control plane for every server of the pool that is not in
 * maintenance. A server starts up; it goes down after `fall` failed checks in a row and comes
 * back after `rise` good ones. A down server gets no new sessions.
 */
export interface HealthCheckConfig {
  /**
   * `http` sends `GET path`; `tcp` only connects. Default `http` when `path` is set, else `tcp`
   * (so `host` or `expectStatus` without a `path` needs `type: 'http'`).
   */
  type?: 'tcp' | 'http';
  /** Path for HTTP checks: starts with `/`, no spaces or control characters. Default `/`. */
  path?: string;
  /** Host header for HTTP checks: a host name or IP, with or without `:port`. Default: the server's address. */
  host?: string;
  /** Statuses that count as healthy (100–599): one status or a non-empty list. Default: any 2xx or 3xx. */
  expectStatus?: number | number[];
  /** Time between checks of one server (100–86400000). Default 2000. */
  intervalMs?: number;
  /** A check not finished in this time fails. Default 1000; at most `intervalMs`. */
  timeoutMs?: number;
  /** Good checks in a row that bring a down server up (1–100). Default 2. */
  rise?: number;
  /** Failed checks in a row that take an up server down (1–100). Default 3. */
  fall?: number;
}

/**
 * Passive health: the engine counts a server's errors as traffic flows (connect failures,
 * connections reset by the server, and 5xx responses if `count5xx`) and ejects a server that has
 * `errors` of them within `windowMs`: it gets no new sessions for `ejectMs`, then returns on
 * probation. The last server still up in a pool is never ejected.
 */
export interface PassiveHealthConfig {
  /** Errors within the window that eject a server (1–1000). Default 5. */
  errors?: number;
  /** The span over which errors are counted. Default 10000. */
  windowMs?: number;
  /** How long an ejected server rests. Default 10000. */
  ejectMs?: number;
  /** Whether 5xx responses count as errors (HTTP). Default true. */
  count5xx?: boolean;
}

/** The pool's wait queue for sessions when every eligible server is at its maxconn; FIFO. */
export interface QueueConfig {
  /** A session waiting longer than this for a server under its maxconn gets 503 (HTTP) or is closed (TCP). Default 5000. */
  timeoutMs?: number;
  /** Most sessions waiting at once (0–1000000); more are refused at once the same way. Default 10000. */
  limit?: number;
}

/** A pool of servers and how it balances, queues and checks them. */
export interface PoolConfig {
  /** How a server is chosen for a new connection or request. Default `roundrobin` (smooth weighted). */
  balance?: Balance;
  /**
   * At least one: an address, or an object with the address and its weight, maxconn or state.
   * Or `{ redis: key }`: the servers are the members of that Redis key (a SET of `ip:port`, or a
   * HASH `ip:port` → weight 1–256), followed live by every instance of a fleet (needs `redis`);
   * `epoxy servers <config> add|remove|list <pool>` changes them.
   */
  servers: Array<Address | ServerConfig> | RedisServersConfig;
  /**
   * How many further servers to try when a connect fails before any byte was sent
   * (refused, reset, timed out). Default 3; each retry goes to a server not yet tried.
   */
  retries?: number;
  /** Default `maxconn` of this pool's servers (0–1000000). 0 (the default) means no limit. */
  maxconn?: number;
  /** Where sessions wait when every eligible server is at its maxconn. */
  queue?: QueueConfig;
  /** Active checks; omitted: none (servers count as up unless passive health ejects them). */
  health?: HealthCheckConfig;
  /** Passive health; on with the defaults when omitted, `false` turns it off. */
  passive?: PassiveHealthConfig | false;
  /** TCP congestion control for connections to this pool's servers, as for a listener's `congestion`. Default: the system's. */
  congestion?: string;
  /**
   * Send the PROXY protocol header (haproxy's `send-proxy` / `send-proxy-v2`) at the start of
   * every new connection to this pool's servers, so they see the client's address and port (and
   * the address it connected to). It goes out in the same write as the first bytes. `v2` adds the
   * SNI as the AUTHORITY TLV and an ALPN TLV (the protocol the route matched on, else the
   * client's first offered) when the connection began with a ClientHello. HTTP mode: a server
   * connection that carried one client's header is reused only for that client connection's
   * requests. Active health checks of such a pool begin with a LOCAL header (v1: `PROXY UNKNOWN`),
   * as haproxy's `check-send-proxy` does. Servers may override it. Default: none.
   */
  proxyProtocol?: ProxyProtocolVersion;
}

/** A pool whose servers live in Redis. */
export interface RedisServersConfig {
  /** The key, e.g. `epoxy:pool:apps`. Not a template: one key per pool. */
  redis: string;
}

/** What a route sends its matches to: a pool, or the servers a host map lists for the host. */
export type RouteTarget =
  | {
      /** The pool that serves what this route matches. */
      pool: string;
      hostMap?: never;
    }
  | {
      /**
       * A host map (`hostMaps`): the route matches when the request's Host (HTTP) or the SNI
       * (TCP) has an entry in it — exact first, then `*.parent` entries walking up the labels —
       * and the host's own servers serve it; a host with no entry goes on to the next route.
       */
      hostMap: string;
      pool?: never;
    };

/**
 * One HTTP route. Routes are tried in order; the first whose host and path match wins, so put
 * specific routes first and a catch-all `{ pool }` last. A request no route matches gets 404.
 */
export type RouteConfig = RouteMatch & RouteTarget;

/** What an HTTP route matches. */
export interface RouteMatch {
  /**
   * `api.example.com` (exact) or `*.example.com` (any subdomain, not example.com itself);
   * omitted: any host. Matched against the request's Host normalized: lowercase, port and a
   * trailing dot removed.
   */
  host?: string;
  /** A path prefix such as `/v1/`; omitted: any path. Case-sensitive, matched on the raw target. */
  path?: string;
}

/**
 * Accept the PROXY protocol from a load balancer in front (haproxy's `accept-proxy`, nginx's
 * `listen ... proxy_protocol`): every connection must begin with a v1 or v2 header (detected);
 * from then on the header's source address is the client's everywhere (X-Forwarded-For, access
 * log, `{ hash: 'client' }`, the select hook, a PROXY header sent onward). A LOCAL header (v2) or
 * `PROXY UNKNOWN` (v1) keeps the connection's own addresses. A missing, malformed, oversized or
 * late header closes the connection, counted in stats and logged (at most one line per second),
 * before anything is sent to a server.
 */
export interface AcceptProxyConfig {
  /**
   * Sources allowed to connect at all: IP addresses (`127.0.0.1`, `::1`) or CIDR ranges
   * (`10.0.0.0/8`). A connection from elsewhere is closed before a byte is read from it: a header
   * from an untrusted source would let anyone claim any address. At least one; use
   * `acceptProxy: true` to trust every source.
   */
  trusted: string[];
  /** The whole header must arrive within this many milliseconds of the connection. Default 3000. */
  timeoutMs?: number;
}

interface ListenerBase {
  /** Unique name, used in logs, stats and the select hook. */
  name: string;
  /** `host:port` to listen on. */
  bind: Address;
  /** listen(2) backlog, default 4096 (the kernel caps it at net.core.somaxconn). */
  backlog?: number;
  /**
   * Most client connections open at once; beyond it the listener stops accepting (clients wait
   * in the backlog) until one closes. 0–1000000; 0 (the default) means no limit.
   */
  maxconn?: number;
  /**
   * TCP congestion control for client connections (TCP_CONGESTION on the listening socket,
   * which accepted sockets inherit), e.g. `cubic`; it must be in
   * net.ipv4.tcp_available_congestion_control (and, without CAP_NET_ADMIN, in
   * tcp_allowed_congestion_control). Default: the system's. On hosts defaulting to `bbr` without
   * the `fq` qdisc, bulk transfers to nearby clients cost less CPU with `cubic` (no pacing timer).
   */
  congestion?: string;
  /** Expect a PROXY protocol header on every connection; `true` trusts every source. Default: off. */
  acceptProxy?: true | AcceptProxyConfig;
}

/**
 * One route of a TCP listener, chosen by the TLS ClientHello the client sends first — read
 * without decrypting (haproxy's `req.ssl_sni`, nginx's `ssl_preread`), then forwarded unchanged
 * and spliced like any TCP connection. Routes are tried in order; the first match wins. A route
 * with neither `sni` nor `alpn` also takes connections that sent no SNI, are not TLS, sent a
 * malformed or too large hello (over 16 KiB of handshake), or sent nothing within
 * `timeouts.inspectMs`. A connection no route matches is closed.
 */
export type TcpRouteConfig = TcpRouteMatch & RouteTarget;

/** What a TCP route matches in the ClientHello. */
export interface TcpRouteMatch {
  /**
   * The SNI name: exact (`api.example.com`) or `*.example.com` (any subdomain, not
   * example.com itself), compared case-insensitively with a trailing dot ignored. Omitted: any.
   */
  sni?: string;
  /** A protocol the client must offer in ALPN, e.g. `h2` (any of those offered). Omitted: any. */
  alpn?: string;
}

/**
 * Forwards each TCP connection as a byte stream to a server of one pool: `pool`, or the pool of
 * the first of `routes` that matches the connection's TLS ClientHello.
 */
export type TcpListenerConfig = TcpPoolListenerConfig | TcpRoutedListenerConfig;

interface TcpListenerBase extends ListenerBase {
  /** TCP mode: bytes are passed through, spliced when large. */
  mode: 'tcp';
}

/** A TCP listener whose connections all go to one pool (unless the select hook says otherwise). */
export interface TcpPoolListenerConfig extends TcpListenerBase {
  pool: string;
  routes?: never;
}

/** A TCP listener routing by SNI and ALPN; at least one route. */
export interface TcpRoutedListenerConfig extends TcpListenerBase {
  routes: TcpRouteConfig[];
  pool?: never;
}

/** Parses HTTP/1.1 and routes each request by Host and path; keep-alive on both sides. */
export interface HttpListenerConfig extends ListenerBase {
  /** HTTP/1.1 mode. */
  mode: 'http';
  /** At least one, tried in order. */
  routes: RouteConfig[];
}

/** A listener is `mode: 'tcp'` or `mode: 'http'`. */
export type ListenerConfig = TcpListenerConfig | HttpListenerConfig;

/** Timeouts in milliseconds, each 1–86400000. */
export interface TimeoutsConfig {
  /** Time allowed for a TCP connect to a server. Default 5000. */
  connectMs?: number;
  /** Client inactivity (and, in TCP mode, the whole session's inactivity). Default 30000. */
  clientMs?: number;
  /** Server inactivity. Default 30000. */
  serverMs?: number;
  /** Time allowed to receive a whole HTTP request head. Default 10000. */
  httpRequestMs?: number;
  /** Inactivity of a TCP-mode session or an upgraded tunnel. Default: clientMs. */
  tunnelMs?: number;
  /** Time the select hook has to answer before the pool's balancer decides. Default 1000. */
  selectMs?: number;
  /**
   * TCP listeners with `routes` by `sni` or `alpn`: how long to wait for a whole ClientHello
   * (after the PROXY header, if any) before the connection takes the route for connections
   * without one. Default 5000.
   */
  inspectMs?: number;
}

/** The HTTP request a select hook decides for (HTTP listeners only). */
export interface HttpRequestInfo {
  /** As sent, e.g. `GET`. */
  method: string;
  /** The request target as sent, e.g. `/user/fred/webapps/www.foo.com/reload?x=1`. */
  path: string;
  /** The Host normalized: lowercase, port and trailing dot removed. */
  host: string;
  /** Header fields, names lowercase, repeats joined with ", ". Read-only; parsed on first use. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What the select hook sees: a new TCP connection, or an HTTP request (`request` set). */
export interface SelectContext {
  /** The listener that accepted the connection. */
  listener: string;
  /** The client's address, e.g. `127.0.0.1` or `::1` (from the PROXY header on listeners with `acceptProxy`). */
  clientAddress: string;
  /** The client's source port. */
  clientPort: number;
  /** Set for requests on HTTP listeners. */
  request?: HttpRequestInfo;
  /**
   * Set for connections to TCP listeners routed by SNI or ALPN whose first bytes were a whole
   * TLS ClientHello: the SNI name (normalized: lowercase, no trailing dot; absent when the
   * hello had none) and the ALPN protocols offered, in the client's order.
   */
  tls?: { sni?: string; alpn: string[] };
  /**
   * A read-only view of a running pool, to reproduce its balancer's choice for another key:
   * `ctx.pool('apps').pick(domain)` answers the server that `apps` hashes `domain` to. Throws
   * for an unknown pool.
   */
  pool(name: string): PoolView;
}

/** What a select hook may ask of a running pool. */
export interface PoolView {
  /** The pool's name in the config. */
  readonly name: string;
  /**
   * The address of the server this pool's consistent hash sends `key` to now (normalized as the
   * pool hashes: a host loses case, port and trailing dot; a path its query), or undefined when
   * no server is available. Throws if the pool does not hash.
   */
  pick(key: string): string | undefined;
  /** Addresses of the servers that take new sessions now. */
  available(): string[];
}

/**
 * A pool name, a server address (`host:port` of a server in some pool), or undefined to let the
 * listener's pool balancer decide.
 */
export type SelectResult = string | undefined;

/** The select hook's signature: it may answer at once or with a promise. */
export type SelectHook = (ctx: SelectContext) => SelectResult | Promise<SelectResult>;

/** The whole config: what `epoxy.config.ts` exports. Unknown keys are errors, with a suggestion. */
export interface EpoxyConfig {
  /** Where clients connect: at least one; names unique, binds distinct. */
  listeners: ListenerConfig[];
  /** Pools of servers by name (letters, digits, `_`, `.`, `-`): at least one. */
  pools: Record<string, PoolConfig>;
  /** How long each phase of a session may take; every one has a default. */
  timeouts?: TimeoutsConfig;
  /**
   * Optional: decide the target in TypeScript. Called asynchronously and in batches: once per
   * new connection on TCP listeners, once per request on HTTP listeners (before the routes; a
   * pool or server it returns wins, undefined lets the routes and the balancer decide).
   */
  select?: SelectHook;
  /**
   * One `access` log line per HTTP request (listener, pool, server, timings, bytes, status,
   * termination code). `true` is `{ mode: 'full' }`. Default off.
   */
  accessLog?: boolean | AccessLogConfig;
  /** The admin HTTP server: /stats, /metrics, the runtime API and the dashboard. Off when omitted. */
  admin?: AdminConfig;
  /**
   * Graceful stop (SIGTERM/SIGINT, or proxy.stop() without graceMs): listeners close at once and
   * sessions in flight get this long to finish before they are cut (0–3600000). Default 10000.
   */
  shutdownGraceMs?: number;
  /** Data-plane tuning; the defaults suit most hosts. */
  engine?: EngineTuning;
  /**
   * The Redis server that host maps and `{ redis: key }` pools live in, shared by a fleet of
   * epoxy instances. Needed by `hostMaps` and Redis-backed pools.
   */
  redis?: RedisConfig;
  /** Host → servers maps kept in Redis, by name; routes use them with `{ hostMap: name }`. */
  hostMaps?: Record<string, HostMapConfig>;
}

/**
 * Where the shared routing lives. If Redis is unreachable at start, epoxy starts from each host
 * map's `cacheFile` (else with empty maps) and retries with backoff; if it is lost while running,
 * epoxy keeps routing by the last map it knew, reconnects, and resyncs everything on reconnect.
 */
export interface RedisConfig {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. The password is never logged. */
  url: string;
  /** The pub/sub channel writers publish a changed host (or `pool:<name>`) to. Default `epoxy:changes`. */
  channel?: string;
  /** Full resync period, the safety net behind pub/sub and keyspace notifications (100–86400000). Default 30000. */
  resyncMs?: number;
}

/**
 * Hosts and their servers, one Redis key per host. Host names are normalized on load (lowercase,
 * port and trailing dot removed); entries that are not valid addresses are skipped and logged
 * once. Changes are followed through `redis.channel`, keyspace notifications when the server
 * sends them (epoxy never changes the server's config), and a full resync every
 * `redis.resyncMs`. `epoxy hosts <config> set|add|remove|get|list|del` edits a map.
 */
export interface HostMapConfig {
  /** Key template with exactly one `{host}`, e.g. `hostnames:{host}:backends`. Default `epoxy:host:{host}`. */
  key?: string;
  /**
   * `set` (default): a SET of `ip:port` per host. `hipache`: a LIST `[identifier, 'http://ip:port', …]`
   * as hipache keeps `frontend:<host>`, with `*.example.com` wildcard hosts.
   */
  format?: 'set' | 'hipache';
  /** How one host's servers share its traffic. Default `roundrobin`. */
  balance?: 'roundrobin' | 'leastconn' | 'p2c';
  /**
   * Settings of the pool behind every host (retries, maxconn, queue, health, passive,
   * congestion, proxyProtocol), as for a pool. Stats and `/metrics` show the map's servers as a
   * pool named after the map, so a host map's name must differ from every pool's.
   */
  pool?: HostMapPoolConfig;
  /** Where the last known map is written (atomically, after each sync) and read when Redis is down at start. */
  cacheFile?: string;
}

/** A pool's settings without its servers and balance. */
export type HostMapPoolConfig = Omit<PoolConfig, 'servers' | 'balance'>;

/** The object form of `accessLog`. */
export interface AccessLogConfig {
  /** `full`: every request; `sampled`: about `sampleRate` of them; `off`. Default `full`. */
  mode?: 'off' | 'sampled' | 'full';
  /**
   * For `sampled` only (an error with another mode): the fraction of requests logged, above 0
   * and at most 1. Default 0.01. The engine draws each request at random.
   */
  sampleRate?: number;
  /**
   * `stdout` (default: through epoxy's logger, with the other logs, at level info) or a file
   * path, appended to; relative paths start from the working directory, and the directory must
   * exist and be writable. Each reload reopens the file (so SIGHUP after log rotation works).
   * Logging never blocks the engine: when JS falls behind, lines are dropped and the drops
   * counted (`stats().totals.logsDropped`) and reported with a warning.
   */
  destination?: string;
}

/** The admin HTTP server. */
export interface AdminConfig {
  /** `host:port` of the admin server. Bind it to loopback unless `token` is set. */
  bind: Address;
  /**
   * Bearer token for the runtime API's changes (`Authorization: Bearer <token>`); reading
   * /stats, /metrics and the dashboard needs none. At least 16 visible ASCII characters.
   * Required when `bind` is not a loopback address (127.0.0.0/8 or ::1); without a token, changes
   * are only accepted from loopback clients.
   */
  token?: string;
  /**
   * The span of /stats' `recentLatency` (and the dashboard's p50/p99), 1000–3600000. Default
   * 60000: the last minute. `latency` beside it covers the whole run.
   */
  latencyWindowMs?: number;
}

/** Data-plane settings. */
export interface EngineTuning {
  /**
   * Engine threads, each with its own epoll loop, listening sockets (SO_REUSEPORT: the kernel
   * spreads new connections over them), sessions and idle server connections; limits, queues,
   * balancers and passive health count over all of them. `'auto'` (default): the CPUs this
   * process may run on, at most 64 (the EPOXY_THREADS environment variable overrides it, for
   * containers whose CPU quota is smaller than the CPUs they see). 1–64 otherwise. A reload
   * cannot change it: restart.
   */
  threads?: 'auto' | number;
  /**
   * Pins thread i to `cpus[i % cpus.length]` (haproxy's cpu-map). Each must be a CPU this
   * process may run on (its affinity mask). Default: no pinning.
   */
  cpus?: number[];
  /** Capacity of each splice pipe in bytes (F_SETPIPE_SZ), default 262144. */
  pipeSize?: number;
  /** Most pipes held at once (each is two fds); 0 disables splice. Default 1024. */
  maxPipes?: number;
  /** A direction moves from buffer copying to splice once one read fills this many bytes. Default 16384. */
  spliceThreshold?: number;
  /** HTTP: largest request head accepted (1024–16384); larger gets 431. Default 16384. */
  maxHeadBytes?: number;
  /** HTTP: idle keep-alive connections kept per server for reuse (0–10000). Default 1000. */
  serverIdleMax?: number;
  /** HTTP: an idle server connection unused this long is closed. Default 30000. */
  serverIdleMs?: number;
  /**
   * Wake-up coalescing: while at least `coalesceSessions` client connections are busy (had I/O
   * within the last 16–32 ms), or while bulk data is being spliced, the engine sleeps this many
   * microseconds (plus the kernel's timer slack, 50 µs by default) after a turn that served few
   * events, so the next turn serves many for the cost of one wake-up. Pauses that gather little
   * (a thin load) make it rest. 0 turns it off. Default 200 (0–10000).
   */
  coalesceUs?: number;
  /**
   * Busy client connections needed before wake-up coalescing starts. Default 64: with fewer, a
   * pause can hold every request in flight at once and leave the backend and clients idle.
   */
  coalesceSessions?: number;
}

/** Identity function that gives `epoxy.config.ts` full type checking. */
export function defineConfig(config: EpoxyConfig): EpoxyConfig {
  return config;
}

// The validated, normalised form that the rest of epoxy works with.
export type * from './resolved.js';

/** One problem found in a config, with the path of the offending field (e.g. `pools.web.servers[1]`). */
export interface ConfigIssue {
  path: string;
  message: string;
}
