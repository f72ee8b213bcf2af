/**
 * The admin HTTP server (node:http): /stats, /metrics, the runtime API and the dashboard at /.
 * It never holds the process open by itself (the proxy does, while it runs), bounds what a client
 * may send and how slowly, and answers every bad request with a JSON error instead of throwing.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

import { parseAddress } from '../config/address.js';
import type { ResolvedAdmin } from '../config/types.js';
import { apiRoutes } from './api.js';
import { authorizeChange } from './auth.js';
import { dashboardHtml } from './dashboard.js';
import type { AdminHost } from './host.js';
import { HttpError, errorReply, json, readJsonBody, send, type Reply } from './http.js';
import { LatencyWindows } from './latency-window.js';
import { ProxyMetrics } from './metrics.js';
import { Router, type Route } from './router.js';
import { buildView } from './stats-view.js';

export interface AdminServerOptions {
  host: AdminHost;
  logger: Logger;
}

// A client gets this long to send its request head, and its whole request; idle keep-alive
// connections are closed after KEEP_ALIVE_MS. Node checks the first two every CHECK_MS.
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 5_000;
const CHECK_MS = 1_000;
/** A socket idle this long in the middle of a request is closed. */
const SOCKET_IDLE_MS = 30_000;

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class AdminServer {
  readonly bind: string;
  readonly #server: http.Server;
  readonly #logger: Logger;
  readonly #router: Router;
  readonly #host: AdminHost;
  #token: string | undefined;
  #closing: Promise<void> | undefined;
  #windows: LatencyWindows;
  #sampler: NodeJS.Timeout | undefined;

  /** Starts listening on `admin.bind`; rejects (with the bind in the message) if it cannot. */
  static async listen(admin: ResolvedAdmin, options: AdminServerOptions): Promise<AdminServer> {
    const server = new AdminServer(admin, options);
    await server.#listen();
    return server;
  }

  private constructor(admin: ResolvedAdmin, options: AdminServerOptions) {
    this.bind = admin.bind;
    this.#token = admin.token;
    this.#logger = options.logger;
    this.#host = options.host;
    this.#windows = new LatencyWindows(admin.latencyWindowMs);
    this.#router = new Router().add(...readRoutes(options.host, () => this.#windows), ...apiRoutes(options.host));
    this.#server = http.createServer(
      {
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_MS,
        connectionsCheckingInterval: CHECK_MS,
      },
      (req, res) => this.#onRequest(req, res),
    );
    this.#server.setTimeout(SOCKET_IDLE_MS, (socket: Socket) => socket.destroy());
  }

  /** `http://127.0.0.1:9900/` */
  get url(): string {
    return `http://${this.bind}/`;
  }

  /**
   * A reload's admin settings other than the bind (which stays): a new token (or none) for the
   * changes that follow, and a new latency window (which starts over) if its length changed.
   */
  update(admin: ResolvedAdmin): void {
    this.#token = admin.token;
    if (admin.latencyWindowMs === this.#windows.windowMs || this.#closing) return;
    this.#windows = new LatencyWindows(admin.latencyWindowMs);
    this.#startSampling();
  }

  /**
   * Stops listening at once and closes idle connections; requests in flight get `graceMs` to
   * finish (a reload asked for through the API must still be answered), then every connection
   * is destroyed. Idempotent.
   */
  close(graceMs = 0): Promise<void> {
    clearInterval(this.#sampler);
    this.#closing ??= new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      if (graceMs <= 0) this.#server.closeAllConnections();
      else setTimeout(() => this.#server.closeAllConnections(), graceMs).unref();
    });
    return this.#closing;
  }

  async #listen(): Promise<void> {
    const parsed = parseAddress(this.bind);
    if ('error' in parsed) throw new Error(`admin server: ${parsed.error}`);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`admin server (${this.bind}): ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen({ host: parsed.host, port: parsed.port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    // The proxy keeps the process alive while it runs (and proxy.unref() lets it go); the admin
    // server must not keep it alive on its own.
    this.#server.unref();
    this.#server.on('error', (err) => this.#logger.error({ err, bind: this.bind }, 'admin server error'));
    this.#startSampling();
  }

  /** Copies the latency histograms now and every window step, for /stats' recentLatency. */
  #startSampling(): void {
    clearInterval(this.#sampler);
    const windows = this.#windows;
    const sample = () => {
      this.#host.stats().then(
        (stats) => windows.observe(stats, Date.now()),
        // A proxy that stopped has nothing to count; the next read of /stats says so.
        () => undefined,
      );
    };
    sample();
    this.#sampler = setInterval(sample, windows.stepMs).unref();
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#serve(req, res).catch((err: unknown) => {
      this.#logger.error({ err, method: req.method, path: req.url }, 'admin request failed');
      if (!res.headersSent) send(res, json(500, { error: 'internal error (logged)' }));
      else res.destroy();
    });
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const pathname = query < 0 ? target : target.slice(0, query);
    const change = !READS.has(method);
    let reply: Reply;
    try {
      const match = this.#router.match(method, pathname);
      if (change) authorizeChange(req, this.#token);
      const body = change ? await readJsonBody(req) : undefined;
      const params = { params: match.params, query: new URLSearchParams(query < 0 ? '' : target.slice(query + 1)), body, raw: req };
      reply = await match.route.handle(params);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      reply = errorReply(err);
    }
    if (this.#closing) res.shouldKeepAlive = false;
    send(res, reply);
    if (change) this.#logChange(req, method, pathname, reply);
  }

  #logChange(req: http.IncomingMessage, method: string, path: string, reply: Reply): void {
    const fields: Record<string, unknown> = { method, path, client: req.socket.remoteAddress, outcome: reply.status };
    if ('json' in reply && reply.status >= 400) fields['error'] = (reply.json as { error?: unknown }).error;
    if (reply.status < 400) this.#logger.info(fields, `admin: ${method} ${path}: ${reply.status}`);
    else this.#logger.warn(fields, `admin: ${method} ${path} refused: ${reply.status}`);
  }
}

/** The pages anyone may read: the dashboard, /stats and /metrics. */
function readRoutes(host: AdminHost, windows: () => LatencyWindows): Route[] {
  const metrics = new ProxyMetrics();
  const stats = async () => {
    try {
      return await host.stats();
    } catch (err) {
      throw new HttpError(503, err instanceof Error ? err.message : String(err));
    }
  };
  return [
    { method: 'GET', path: '/', handle: () => ({ status: 200, type: 'text/html; charset=utf-8', text: dashboardHtml() }) },
    { method: 'GET', path: '/stats', handle: async () => json(200, buildView(await stats(), host, windows(), Date.now())) },
    { method: 'GET', path: '/metrics', handle: async () => ({ status: 200, type: metrics.contentType, text: await metrics.render(stats) }) },
  ];
}
