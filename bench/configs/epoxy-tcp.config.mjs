// epoxy in TCP mode with its native balancer (no select hook): the `epoxy` contender.
// Run by the harness as `node dist/cli/main.js run bench/configs/epoxy-tcp.config.mjs`; the ports
// come from the environment so the file stays readable. Engine tuning is left at the defaults
// (256 KiB splice pipes, splice once a read fills 16 KiB).
const listen = process.env.BENCH_LISTEN_PORT;
const backend = process.env.BENCH_BACKEND_PORT;
if (!listen || !backend) throw new Error('set BENCH_LISTEN_PORT and BENCH_BACKEND_PORT');

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'tcp', pool: 'backend' }],
  pools: {
    backend: { balance: 'roundrobin', servers: [`127.0.0.1:${backend}`] },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000 },
};
