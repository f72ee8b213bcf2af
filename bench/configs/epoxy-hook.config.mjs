// epoxy in TCP mode where every new connection goes through a TypeScript/JavaScript `select`
// hook: the `epoxy+hook` contender. The hook does real work per connection — it hashes the
// client address and port (FNV-1a) and picks one of two pools by the result, sending a few
// connections to the balancer — so nothing can be answered without running it. Both pools point
// at the same backend, so the hook changes the path a connection takes, not where it ends up.
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
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'tcp', pool: 'even' }],
  pools: {
    even: { servers: [`127.0.0.1:${backend}`] },
    odd: { servers: [`127.0.0.1:${backend}`] },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000 },
  select: ({ clientAddress, clientPort }) => {
    if (!marked) markCalled();
    const h = fnv1a(clientAddress, clientPort);
    if (h % 16 === 0) return undefined; // 1 in 16: let the listener pool's balancer decide
    return h & 1 ? 'odd' : 'even';
  },
};
