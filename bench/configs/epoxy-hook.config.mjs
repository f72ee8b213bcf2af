// epoxy in TCP mode where every new connection goes through a TypeScript/JavaScript `select`
// hook: the `epoxy+hook` contender. The hook does real work per connection — it hashes the
// client address and port (FNV-1a) and picks one of two pools by the result, sending a few
// connections to the balancer — so nothing can be answered without running it. Both pools point
// at the same backend, so the hook changes the path a connection takes, not where it ends up.
import { benchAdmin, benchEngine, benchPorts, fnv1a, markHookCalled } from './bench-env.mjs';

const { listen, backend } = benchPorts();

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'tcp', pool: 'even' }],
  pools: {
    even: { servers: [`127.0.0.1:${backend}`] },
    odd: { servers: [`127.0.0.1:${backend}`] },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000 },
  engine: benchEngine(),
  ...benchAdmin(),
  select: ({ clientAddress, clientPort }) => {
    markHookCalled();
    const h = fnv1a(clientAddress, clientPort);
    if (h % 16 === 0) return undefined; // 1 in 16: let the listener pool's balancer decide
    return h & 1 ? 'odd' : 'even';
  },
};
