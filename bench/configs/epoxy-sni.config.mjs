// epoxy in TCP mode routing by the SNI name of the TLS ClientHello, without decrypting: the
// `epoxy-sni` contender. It reads the hello, picks the first route whose `sni` matches (here the
// exact name wrk sends, bench.example.com), forwards the bytes it read and splices the rest. All
// routes lead to the same pool so that the contenders differ only by the inspection.
// By hand: BENCH_LISTEN_PORT=8443 BENCH_TLS_BACKEND_PORT=9443 node dist/cli/main.js run bench/configs/epoxy-sni.config.mjs
import { benchAdmin, benchEngine, benchTlsPorts } from './bench-env.mjs';

const { listen, tlsBackend, proxyProtocol } = benchTlsPorts();

export default {
  listeners: [
    {
      name: 'tls',
      bind: `127.0.0.1:${listen}`,
      mode: 'tcp',
      routes: [
        { sni: 'bench.example.com', pool: 'tls' },
        { sni: '*.example.com', pool: 'tls' },
        { pool: 'tls' }, // no SNI, not TLS, or no hello within inspectMs
      ],
    },
  ],
  pools: { tls: { servers: [`127.0.0.1:${tlsBackend}`], ...proxyProtocol } },
  timeouts: { connectMs: 5000, clientMs: 120_000, inspectMs: 5000 },
  engine: benchEngine(),
  ...benchAdmin(),
};
