/**
 * The public configuration of epoxy: what a user writes in `epoxy.config.ts`.
 * These types are the first documentation a user reads; keep them precise.
 */

/** `host:port` with an IPv4 literal, `[v6]:port`, or a host name resolved when the config loads. */
export type Address = string;

export type Balance = 'roundrobin' | 'leastconn';

export interface ServerConfig {
  address: Address;
  /** Relative share of new connections (1–256, default 1). 0 is not allowed: remove or drain instead. */
  weight?: number;
}

export interface PoolConfig {
  /** How a server is chosen for a new connection. Default `roundrobin` (smooth weighted). */
  balance?: Balance;
  servers: Array<Address | ServerConfig>;
  /**
   * How many further servers to try when a connect fails before any byte was sent
   * (refused, reset, timed out). Default 3; each retry goes to a server not yet tried.
   */
  retries?: number;
}

/**
 * One HTTP route. Routes are tried in order; the first whose host and path match wins, so put
 * specific routes first and a catch-all `{ pool }` last. A request no route matches gets 404.
 */
export interface RouteConfig {
  /**
   * `api.example.com` (exact) or `*.example.com` (any subdomain, not example.com itself);
   * omitted: any host. Matched against the request's Host normalized: lowercase, port and a
   * trailing dot removed.
   */
  host?: string;
  /** A path prefix such as `/v1/`; omitted: any path. Case-sensitive, matched on the raw target. */
  path?: string;
  pool: string;
}

interface ListenerBase {
  /** Unique name, used in logs, stats and the select hook. */
  name: string;
  /** `host:port` to listen on. */
  bind: Address;
  /** listen(2) backlog, default 4096 (the kernel caps it at net.core.somaxconn). */
  backlog?: number;
}

export interface TcpListenerConfig extends ListenerBase {
  mode: 'tcp';
  /** The pool every connection goes to unless the select hook says otherwise. */
  pool: string;
}

export interface HttpListenerConfig extends ListenerBase {
  mode: 'http';
  routes: RouteConfig[];
}

export type ListenerConfig = TcpListenerConfig | HttpListenerConfig;

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
}

/** The HTTP request a select hook decides for (HTTP listeners only). */
export interface HttpRequestInfo {
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
  /** The client's address, e.g. `127.0.0.1` or `::1`. */
  clientAddress: string;
  clientPort: number;
  /** Set for requests on HTTP listeners. */
  request?: HttpRequestInfo;
}

/**
 * A pool name, a server address (`host:port` of a server in some pool), or undefined to let the
 * listener's pool balancer decide.
 */
export type SelectResult = string | undefined;

export type SelectHook = (ctx: SelectContext) => SelectResult | Promise<SelectResult>;

export interface EpoxyConfig {
  listeners: ListenerConfig[];
  pools: Record<string, PoolConfig>;
  timeouts?: TimeoutsConfig;
  /**
   * Optional: decide the target in TypeScript. Called asynchronously and in batches: once per
   * new connection on TCP listeners, once per request on HTTP listeners (before the routes; a
   * pool or server it returns wins, undefined lets the routes and the balancer decide).
   */
  select?: SelectHook;
  /** One `access` log line per HTTP request (timings, bytes, status, termination code). Default false. */
  accessLog?: boolean;
  admin?: { bind: Address };
  /** Data-plane tuning; the defaults suit most hosts. */
  engine?: EngineTuning;
}

export interface EngineTuning {
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
}

/** Identity function that gives `epoxy.config.ts` full type checking. */
export function defineConfig(config: EpoxyConfig): EpoxyConfig {
  return config;
}

// ---- The validated, normalised form that the rest of epoxy works with ----

export interface ResolvedServer {
  /** Normalised `ip:port` (`[v6]:port` for IPv6). */
  address: string;
  weight: number;
}

export interface ResolvedPool {
  name: string;
  balance: Balance;
  retries: number;
  servers: ResolvedServer[];
}

export interface ResolvedTcpListener {
  name: string;
  mode: 'tcp';
  bind: string;
  backlog: number;
  pool: string;
}

export interface ResolvedRoute {
  /** '' for any host; lowercase exact host; or `*.suffix`. */
  host: string;
  /** '' for any path. */
  path: string;
  pool: string;
}

export interface ResolvedHttpListener {
  name: string;
  mode: 'http';
  bind: string;
  backlog: number;
  routes: ResolvedRoute[];
}

export type ResolvedListener = ResolvedTcpListener | ResolvedHttpListener;

export interface ResolvedTimeouts {
  connectMs: number;
  clientMs: number;
  serverMs: number;
  httpRequestMs: number;
  tunnelMs: number;
  selectMs: number;
}

export interface ResolvedConfig {
  listeners: ResolvedListener[];
  pools: ResolvedPool[];
  timeouts: ResolvedTimeouts;
  select?: SelectHook;
  accessLog: boolean;
  engine: Required<EngineTuning>;
}

/** One problem found in a config, with the path of the offending field (e.g. `pools.web.servers[1]`). */
export interface ConfigIssue {
  path: string;
  message: string;
}
