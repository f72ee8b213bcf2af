// epoxy in HTTP mode where every request goes through a JavaScript `select` hook: the
// `epoxy+hook http` contender. The hook reads a header and hashes the path with the client port
// to pick one of two pools (both point at the same backend). The harness reports these cells as
// "n/a" while HTTP mode does not exist (`epoxy check` fails) or while HTTP listeners never call the
// hook (the marker file below is not written).
import { writeFileSync } from 'node:fs';

const listen = process.env.BENCH_LISTEN_PORT;
const backend = process.env.BENCH_BACKEND_PORT;
if (!listen || !backend) throw new Error('set BENCH_LISTEN_PORT and BENCH_BACKEND_PORT');

// The harness checks that the hook really runs: on its first call the hook writes its PID to
// BENCH_HOOK_MARKER (once per process; nothing per call).
let marked = false;
function markCalled() {
  marked = true;
  if (process.env.BENCH_HOOK_MARKER) writeFileSync(process.env.BENCH_HOOK_MARKER, String(process.pid));
}

function fnv1a(text, seed) {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'http', routes: [{ pool: 'even' }] }],
  pools: {
    even: { servers: [`127.0.0.1:${backend}`] },
    odd: { servers: [`127.0.0.1:${backend}`] },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000, serverMs: 120_000 },
  // Per request, what a routing hook typically does: look at a header (which makes epoxy parse the
  // request's header fields for JS) and at the path, and pick a pool.
  select: ({ clientPort, request }) => {
    if (!marked) markCalled();
    if (!request) return undefined;
    if (request.headers['x-tenant'] === 'beta') return 'odd';
    const h = fnv1a(request.path, clientPort);
    if (h % 16 === 0) return undefined; // 1 in 16: the routes and the balancer decide
    return h & 1 ? 'odd' : 'even';
  },
};
