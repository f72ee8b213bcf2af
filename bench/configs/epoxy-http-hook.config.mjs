// epoxy in HTTP mode where every request goes through a JavaScript `select` hook: the
// `epoxy+hook http` contender. The hook reads a header and hashes the path with the client port
// to pick one of two pools (both point at the same backend). The harness reports these cells as
// "n/a" while HTTP mode does not exist (`epoxy check` fails) or while HTTP listeners never call the
// hook (the marker file below is not written).
import { benchAdmin, benchEngine, benchPorts, fnv1a, markHookCalled } from './bench-env.mjs';

const { listen, backend } = benchPorts();

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'http', routes: [{ pool: 'even' }] }],
  pools: {
    even: { servers: [`127.0.0.1:${backend}`] },
    odd: { servers: [`127.0.0.1:${backend}`] },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000, serverMs: 120_000 },
  engine: benchEngine(),
  ...benchAdmin(),
  // Per request, what a routing hook typically does: look at a header (which makes epoxy parse the
  // request's header fields for JS) and at the path, and pick a pool.
  select: ({ clientPort, request }) => {
    markHookCalled();
    if (!request) return undefined;
    if (request.headers['x-tenant'] === 'beta') return 'odd';
    const h = fnv1a(request.path, clientPort);
    if (h % 16 === 0) return undefined; // 1 in 16: the routes and the balancer decide
    return h & 1 ? 'odd' : 'even';
  },
};
