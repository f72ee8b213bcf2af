// epoxy in HTTP mode over four servers (the bench's nginx listens on 127.0.0.1-4), for the
// balancer scenario. BENCH_BALANCE: roundrobin, leastconn, p2c, hash (consistent hash by Host),
// or hook (round robin pool, but every request is decided by the select hook below).
import { benchAdmin, benchEngine, benchPorts, markHookCalled } from './bench-env.mjs';

const { listen, backend } = benchPorts();
const mode = process.env.BENCH_BALANCE ?? 'roundrobin';

const servers = [1, 2, 3, 4].map((i) => `127.0.0.${i}:${backend}`);
const balance = mode === 'hash' ? { hash: 'host' } : mode === 'hook' ? 'roundrobin' : mode;

// The hook round-robins over the servers that are up, returning an address: the whole path a
// TypeScript decision takes (parked request, batch to JS, answer resolved to a server).
let next = 0;
function hook(ctx) {
  markHookCalled();
  const up = ctx.pool('backend').available();
  return up[next++ % up.length];
}

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'http', routes: [{ pool: 'backend' }] }],
  pools: { backend: { balance, servers } },
  timeouts: { connectMs: 5000, clientMs: 120_000, serverMs: 120_000 },
  engine: benchEngine(),
  ...benchAdmin(),
  ...(mode === 'hook' ? { select: hook } : {}),
};
