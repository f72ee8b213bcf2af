// The Node baseline: the `http-proxy` package (npm) in front of the backend, the way people
// usually put a proxy in a Node process. Backend connections are kept alive and reused
// (an http.Agent with keepAlive), which is the fair setting next to haproxy's `http-reuse always`.
// Usage: BENCH_LISTEN_PORT=... BENCH_BACKEND_PORT=... node bench/configs/http-proxy.mjs
import http from 'node:http';
import httpProxy from 'http-proxy';

const listen = Number(process.env.BENCH_LISTEN_PORT);
const backend = Number(process.env.BENCH_BACKEND_PORT);
if (!listen || !backend) throw new Error('set BENCH_LISTEN_PORT and BENCH_BACKEND_PORT');

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backend}`, agent, xfwd: false });
proxy.on('error', (err, _req, res) => {
  if (res && 'writeHead' in res && !res.headersSent) res.writeHead(502);
  res?.end?.();
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(listen, '127.0.0.1', () => process.stdout.write(`http-proxy listening on 127.0.0.1:${listen}\n`));

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
