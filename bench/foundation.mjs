// Foundation measurements (issue: epoll engine with splice): 1 GiB through epoxy vs direct
// loopback, the engine thread's CPU time for it, syscalls of that thread (strace -c), and RSS
// with 5,000 idle connections. Not a test: it prints numbers. Run after `npm run build`.
import { execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

const GiB = 1024 ** 3;
const child = new URL('../test/fixtures/proxy-child.mjs', import.meta.url).pathname;

function taskCpuMs(pid, tid) {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}
function engineTid(pid) {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'epoxy-engine') return tid;
  }
  throw new Error('no epoxy-engine thread');
}
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function listen(handler) {
  const s = net.createServer(handler).listen(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

// A backend that sends `bytes` from one reused 4 MiB buffer on every connection.
const chunk = Buffer.alloc(4 * 1024 * 1024, 0x5a);
const source = await listen(async (s) => {
  s.on('error', () => {});
  let left = GiB;
  while (left > 0) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!s.write(piece)) await once(s, 'drain');
  }
  s.end();
});
const echo = await listen((s) => { s.on('error', () => {}); s.pipe(s); });

async function download(port) {
  const c = net.connect(port, '127.0.0.1');
  let got = 0;
  const started = process.hrtime.bigint();
  c.on('data', (d) => (got += d.length));
  await once(c, 'end');
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  c.destroy();
  if (got !== GiB) throw new Error(`got ${got} bytes`);
  return { secs, mbps: GiB / 1e6 / secs };
}

async function startProxy(pool) {
  const srv = await listen(() => {});
  const port = srv.address().port;
  srv.close();
  const p = fork(child, [JSON.stringify({
    listeners: [{ name: 'b', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
    pools: { p: { servers: [`127.0.0.1:${pool}`] } },
  })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(p, 'message');
  return { p, port };
}

const direct = await download(source.address().port);
console.log(`direct loopback : ${direct.mbps.toFixed(0)} MB/s (${direct.secs.toFixed(2)} s for 1 GiB)`);

const { p, port } = await startProxy(source.address().port);
const tid = engineTid(p.pid);
const cpu0 = taskCpuMs(p.pid, tid);
const viaEpoxy = await download(port);
const engineCpu = (taskCpuMs(p.pid, tid) - cpu0) / 1000;
console.log(`through epoxy   : ${viaEpoxy.mbps.toFixed(0)} MB/s (${viaEpoxy.secs.toFixed(2)} s), ratio ${(viaEpoxy.mbps / direct.mbps).toFixed(2)} of direct`);
console.log(`engine thread   : ${engineCpu.toFixed(2)} CPU s for 1 GiB (${(engineCpu / (GiB / 1e9)).toFixed(3)} CPU s per GB)`);

// strace -c on the engine thread only, for one more 1 GiB transfer.
let straceOut = '';
try {
  execFileSync('strace', ['-V'], { stdio: 'ignore' });
  const st = spawn('strace', ['-c', '-p', tid], { stdio: ['ignore', 'ignore', 'pipe'] });
  st.stderr.on('data', (d) => (straceOut += d));
  await new Promise((r) => setTimeout(r, 500));
  await download(port);
  st.kill('SIGINT');
  await once(st, 'exit');
  console.log('strace -c of the engine thread during a 1 GiB transfer:\n' + straceOut);
} catch {
  console.log('strace not installed: scripts/ensure-tools.sh strace=strace');
}

p.send({ cmd: 'stop' });
await once(p, 'exit');

// RSS with 5,000 idle connections (a fresh proxy in front of an echo server).
const idle = await startProxy(echo.address().port);
const rss0 = rssKiB(idle.p.pid);
const conns = [];
for (let i = 0; i < 5000; i++) {
  const c = net.connect(idle.port, '127.0.0.1');
  c.on('error', () => {});
  conns.push(c);
  if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
}
await Promise.all(conns.map((c) => (c.connecting ? once(c, 'connect') : null)));
await new Promise((r) => setTimeout(r, 1000));
const rss1 = rssKiB(idle.p.pid);
console.log(`idle RSS        : ${rss0} KiB before, ${rss1} KiB with 5,000 idle connections (${((rss1 - rss0) / 5000 * 1024).toFixed(0)} bytes per connection)`);
conns.forEach((c) => c.destroy());
idle.p.send({ cmd: 'stop' });
await once(idle.p, 'exit');
source.close();
echo.close();
