// The `epoxy-tls-plain` contender: the listener of epoxy-sni.config.mjs without routes — plain TCP
// mode, one pool, in front of the same TLS backend. epoxy splices from the first byte and never
// looks at the ClientHello; the difference to epoxy-sni is the cost of the inspection.
// By hand: BENCH_LISTEN_PORT=8443 BENCH_TLS_BACKEND_PORT=9443 node dist/cli/main.js run bench/configs/epoxy-tls-plain.config.mjs
import { benchAdmin, benchEngine, benchTlsPorts } from './bench-env.mjs';

const { listen, tlsBackend, proxyProtocol } = benchTlsPorts();

export default {
  listeners: [{ name: 'tls', bind: `127.0.0.1:${listen}`, mode: 'tcp', pool: 'tls' }],
  pools: { tls: { servers: [`127.0.0.1:${tlsBackend}`], ...proxyProtocol } },
  timeouts: { connectMs: 5000, clientMs: 120_000, inspectMs: 5000 },
  engine: benchEngine(),
  ...benchAdmin(),
};
