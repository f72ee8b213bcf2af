/**
 * The runtime API: the changes `proxy.pool(name)` and `proxy.reload()` make, over HTTP. Every
 * route checks what it was sent (naming the bad field), then calls the same PoolHandle method
 * as the TypeScript API; nothing is implemented twice.
 *
 *   GET    /api/pools/:pool/servers                   the pool's servers
 *   POST   /api/pools/:pool/servers                   add { address, weight?, maxconn?, state? }
 *   PUT    /api/pools/:pool/servers/:address          set { weight?, maxconn? }
 *   DELETE /api/pools/:pool/servers/:address          remove
 *   POST   /api/pools/:pool/servers/:address/drain    (and /ready, /maint)
 *   GET    /api/pools/:pool/pick?key=...              the server a hash pool sends `key` to
 *   POST   /api/reload                                reload the config from its source
 *   GET    /api/hostmaps/:map?host=www.foo.com        where this instance sends a host now
 *
 * `:address` is the URL-encoded `ip:port` of a server (`127.0.0.1%3A9001`, `%5B%3A%3A1%5D%3A9001`).
 */
import { ConfigError } from '../config/errors.js';
import { isIPLiteral, normalizeAddress, parseAddress } from '../config/address.js';
import { describe } from '../config/schema.js';
import type { ServerState } from '../config/types.js';
import type { PoolHandle, ServerInfo } from '../proxy.js';
import type { AdminHost } from './host.js';
import { HttpError, json, type Reply } from './http.js';
import type { Route, RouteRequest } from './router.js';

const STATES: readonly ServerState[] = ['ready', 'drain', 'maint'];

export function apiRoutes(host: AdminHost): Route[] {
  const pool = (req: RouteRequest): PoolHandle => poolOf(host, req.params['pool'] ?? '');
  const server = (req: RouteRequest): [PoolHandle, ServerInfo] => {
    const handle = pool(req);
    return [handle, serverOf(handle, req.params['address'] ?? '')];
  };
  const stateRoute = (state: ServerState): Route => ({
    method: 'POST',
    path: `/api/pools/:pool/servers/:address/${state}`,
    handle: (req) => {
      noBody(req);
      const [handle, s] = server(req);
      change(() => handle[state](s.address));
      return json(200, { pool: handle.name, server: current(handle, s.address) });
    },
  });
  return [
    {
      method: 'GET',
      path: '/api/pools/:pool/servers',
      handle: (req) => {
        const handle = pool(req);
        return json(200, { pool: handle.name, servers: handle.servers() });
      },
    },
    {
      method: 'POST',
      path: '/api/pools/:pool/servers',
      handle: (req) => {
        const handle = pool(req);
        const body = fields(req.body, ['address', 'weight', 'maxconn', 'state'], true);
        const address = literal(body['address'], 'address');
        const options: { weight?: number; maxconn?: number; state?: ServerState } = {};
        if (body['weight'] !== undefined) options.weight = whole(body['weight'], 'weight', 1, 256);
        if (body['maxconn'] !== undefined) options.maxconn = whole(body['maxconn'], 'maxconn', 0, 1_000_000);
        if (body['state'] !== undefined) options.state = state(body['state']);
        if (handle.servers().some((s) => s.address === address)) {
          throw new HttpError(409, `pool "${handle.name}" already has server ${address}`);
        }
        change(() => handle.add(address, options));
        return json(201, { pool: handle.name, server: current(handle, address) });
      },
    },
    {
      method: 'PUT',
      path: '/api/pools/:pool/servers/:address',
      handle: (req) => {
        const [handle, s] = server(req);
        const body = fields(req.body, ['weight', 'maxconn'], true);
        if (body['weight'] === undefined && body['maxconn'] === undefined) {
          throw new HttpError(400, 'the body must set weight or maxconn (or both)');
        }
        const weight = body['weight'] === undefined ? undefined : whole(body['weight'], 'weight', 1, 256);
        const maxconn = body['maxconn'] === undefined ? undefined : whole(body['maxconn'], 'maxconn', 0, 1_000_000);
        change(() => {
          if (weight !== undefined) handle.setWeight(s.address, weight);
          if (maxconn !== undefined) handle.setMaxconn(s.address, maxconn);
        });
        return json(200, { pool: handle.name, server: current(handle, s.address) });
      },
    },
    {
      method: 'DELETE',
      path: '/api/pools/:pool/servers/:address',
      handle: (req) => {
        noBody(req);
        const [handle, s] = server(req);
        if (!change(() => handle.remove(s.address))) throw new HttpError(404, `pool "${handle.name}" has no server ${s.address}`);
        return json(200, { pool: handle.name, removed: s.address });
      },
    },
    stateRoute('drain'),
    stateRoute('ready'),
    stateRoute('maint'),
    {
      method: 'GET',
      path: '/api/pools/:pool/pick',
      handle: (req) => {
        const handle = pool(req);
        const key = req.query.get('key');
        if (key === null) throw new HttpError(400, 'the query parameter "key" is required: /api/pools/<pool>/pick?key=<host, path, client address or header value>');
        let picked: string | undefined;
        try {
          picked = handle.pick(key);
        } catch (err) {
          // The pool exists, so pick() only refuses because the pool does not hash.
          throw new HttpError(409, message(err));
        }
        return json(200, { pool: handle.name, key, server: picked ?? null });
      },
    },
    {
      method: 'GET',
      path: '/api/hostmaps/:map',
      handle: (req) => {
        const map = req.params['map'] ?? '';
        const name = req.query.get('host');
        if (name === null || name === '') throw new HttpError(400, 'the query parameter "host" is required: /api/hostmaps/<map>?host=www.example.com');
        const answer = host.hostMap(map, name);
        if (!answer) {
          const maps = host.config().hostMaps.map((m) => m.name);
          throw new HttpError(404, maps.length ? `no host map "${map}" (host maps are: ${maps.join(', ')})` : `no host map "${map}" (no hostMaps are configured)`);
        }
        return json(200, answer);
      },
    },
    {
      method: 'POST',
      path: '/api/reload',
      handle: async (req) => {
        noBody(req);
        return reload(host);
      },
    },
  ];
}

async function reload(host: AdminHost): Promise<Reply> {
  if (!host.reload) {
    throw new HttpError(
      409,
      'this proxy has no config file to reload: it was started from code (Proxy.start without a reload option); call proxy.reload(config) instead',
    );
  }
  try {
    await host.reload();
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new HttpError(422, err.message.split('\n')[0]!.replace(/:$/, ''), { extra: { issues: err.issues } });
    }
    // A listener or the admin server that cannot bind: one problem, with no field path.
    throw new HttpError(422, `reload rejected, the running config stays: ${message(err)}`, { extra: { issues: [{ path: '', message: message(err) }] } });
  }
  return json(200, { reloaded: true });
}

function poolOf(host: AdminHost, name: string): PoolHandle {
  const names = host.config().pools.map((p) => p.name);
  if (!names.includes(name)) throw new HttpError(404, `no pool named "${name}" (pools are: ${names.join(', ')})`);
  return host.pool(name);
}

/** The server `text` (from the URL) names in the pool: 400 if it is no address, 404 if absent. */
function serverOf(handle: PoolHandle, text: string): ServerInfo {
  const parsed = parseAddress(text);
  if ('error' in parsed) throw new HttpError(400, `server address: ${parsed.error} (URL-encode ip:port)`);
  const address = normalizeAddress(parsed.host, parsed.port);
  const found = handle.servers().find((s) => s.address === address);
  if (!found) {
    const list = handle.servers().map((s) => s.address);
    throw new HttpError(404, `pool "${handle.name}" has no server ${address} (servers are: ${list.join(', ') || 'none'})`);
  }
  return found;
}

function current(handle: PoolHandle, address: string): ServerInfo | null {
  return handle.servers().find((s) => s.address === address) ?? null;
}

/**
 * Runs a PoolHandle change. What it still refuses after the checks here is a bad value (400:
 * RangeError, TypeError) or a state that does not allow it (409: the proxy is stopping).
 */
function change<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new HttpError(err instanceof RangeError || err instanceof TypeError ? 400 : 409, message(err));
  }
}

/** The body's fields; 400 for a missing body (when required) or a field not in `allowed`. */
function fields(body: Record<string, unknown> | undefined, allowed: readonly string[], required: boolean): Record<string, unknown> {
  if (body === undefined) {
    if (required) throw new HttpError(400, `a JSON body is required, with ${allowed.join(', ')}`);
    return {};
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw new HttpError(400, `unknown field "${key}" (allowed: ${allowed.join(', ')})`);
  }
  return body;
}

function noBody(req: RouteRequest): void {
  if (req.body !== undefined && Object.keys(req.body).length > 0) {
    throw new HttpError(400, `this endpoint takes no body, got fields ${Object.keys(req.body).join(', ')}`);
  }
}

/** A server address for a live change: an `ip:port` literal, normalized. */
function literal(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw new HttpError(400, `${field} ${value === undefined ? 'is required' : `must be an "ip:port" string, got ${describe(value)}`}`);
  }
  const parsed = parseAddress(value);
  if ('error' in parsed) throw new HttpError(400, `${field}: ${parsed.error}`);
  if (!isIPLiteral(parsed.host)) throw new HttpError(400, `${field}: "${value}" is a host name; live changes take an IP literal`);
  return normalizeAddress(parsed.host, parsed.port);
}

function whole(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `${field} must be a whole number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function state(value: unknown): ServerState {
  if (typeof value !== 'string' || !(STATES as readonly string[]).includes(value)) {
    throw new HttpError(400, `state must be "ready", "drain" or "maint", got ${describe(value)}`);
  }
  return value as ServerState;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
