// Leak check for the sanitizer build (scripts/test-asan.sh): exercises the engine — bulk
// transfer through pipes, small echoes through buffers, the select hook, refused servers, live
// pool changes, stop — and then lets node exit naturally so LeakSanitizer can report.
import net from 'node:net';
import { once } from 'node:events';
import { Proxy } from '../dist/index.js';
import { silentLogger } from '../dist/log/logger.js';

const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await once(echo, 'listening');
const dead = net.createServer().listen(0, '127.0.0.1');
await once(dead, 'listening');
const deadPort = dead.address().port;
dead.close();
const port = echo.address().port;
async function freePort() {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  await once(s, 'close');
  return p;
}
const proxyPort = await freePort();
const httpPort = await freePort();
const proxy = await Proxy.start(
  {
    listeners: [{ name: 'l', bind: `127.0.0.1:${proxyPort}`, mode: 'tcp', pool: 'p' }],
    pools: { p: { servers: [`127.0.0.1:${deadPort}`, `127.0.0.1:${port}`] } },
    select: (ctx) => (ctx.clientPort % 2 ? 'p' : undefined),
  },
  { logger: silentLogger() },
);

async function roundTrip(size) {
  const c = net.connect(proxyPort, '127.0.0.1');
  await once(c, 'connect');
  let got = 0;
  const done = new Promise((resolve) => c.on('data', (d) => { got += d.length; if (got >= size) resolve(); }));
  c.write(Buffer.alloc(size, 1));
  await done;
  c.destroy();
}
for (let i = 0; i < 20; i++) await roundTrip(i % 2 ? 4 * 1024 * 1024 : 100);

// HTTP mode: keep-alive requests with bodies, a chunked response, a 404, pooled server conns.
import http from 'node:http';
const web = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => (req.url === '/chunked' ? (res.write('a'), res.end('b')) : res.end('ok')));
}).listen(0, '127.0.0.1');
await once(web, 'listening');
const httpProxy = await Proxy.start(
  {
    listeners: [{ name: 'h', bind: `127.0.0.1:${httpPort}`, mode: 'http', routes: [{ host: 'web.test', pool: 'w' }] }],
    pools: { w: { servers: [`127.0.0.1:${web.address().port}`] } },
    accessLog: true,
  },
  { logger: silentLogger() },
);
const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
const get = (path, host = 'web.test', body) =>
  new Promise((resolve, reject) => {
    const r = http.request({ port: httpPort, host: '127.0.0.1', path, method: body ? 'POST' : 'GET', headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    r.on('error', reject);
    r.end(body);
  });
for (let i = 0; i < 20; i++) await get(i % 3 ? '/x' : '/chunked', i % 5 ? 'web.test' : 'none.test', i % 2 ? Buffer.alloc(70000) : undefined);
agent.destroy();
await httpProxy.stop({ graceMs: 500 });
web.close();
proxy.pool('p').add('127.0.0.1:1');
proxy.pool('p').remove('127.0.0.1:1');
await proxy.stats();
await proxy.stop({ graceMs: 500 });
echo.close();
console.log('asan-leaks: done');
