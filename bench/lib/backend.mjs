// The backend: an nginx of the harness's own (1 worker unless --backend-workers, no access log)
// serving test files from a temp dir. The files (1 KiB, 64 KiB, 1 MiB, 100 MiB of random bytes)
// are generated there and removed with it; nothing is written into the repository. With `tls`,
// also two HTTPS listeners (plain and behind the PROXY protocol) with a self-signed certificate
// made with the openssl CLI in the same temp dir.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { childPids, nofileLimit } from './measure.mjs';
import { freePort, sleep, startProcess, stopProcess, waitForPort } from './procs.mjs';
import { ROOT } from './tools.mjs';

export const FILES = { '1k': 1024, '64k': 64 * 1024, '1m': 1024 ** 2, '100m': 100 * 1024 ** 2 };

function writeFiles(dir) {
  mkdirSync(dir, { recursive: true });
  const block = randomBytes(1024 ** 2);
  for (const [name, size] of Object.entries(FILES)) {
    const fd = openSync(join(dir, name), 'w', 0o644);
    for (let left = size; left > 0; left -= Math.min(left, block.length)) writeSync(fd, block, 0, Math.min(left, block.length));
    closeSync(fd);
  }
}

/** The name the TLS scenarios connect as (SNI and Host); the certificate also covers *.example.com. */
export const TLS_NAME = 'bench.example.com';

/**
 * A self-signed certificate in `dir`: EC P-256 (ECDSA P-256, certbot's default key type since
 * 2.0), SAN bench.example.com and *.example.com. Returns { cert, key }.
 */
function makeCertificate(dir) {
  const cert = join(dir, 'bench-cert.pem');
  const key = join(dir, 'bench-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '7', '-subj', `/CN=${TLS_NAME}`, '-addext', `subjectAltName=DNS:${TLS_NAME},DNS:*.example.com`], { stdio: ['ignore', 'ignore', 'pipe'] });
  chmodSync(key, 0o644); // nginx's worker (an unprivileged user under a root master) reads it
  return { cert, key };
}

/**
 * Starts nginx in `tmp` with `workers` worker processes (pinned to `cpus` when given); resolves
 * { port, proc, workerPid (the first), workerPids, url(path), stop() }, and with `tls` also
 * tlsPort (HTTPS) and tlsProxyPort (HTTPS after a PROXY v1/v2 header).
 */
export async function startBackend(tmp, { cpus, workers = 1, tls = false } = {}) {
  // nginx's worker runs as an unprivileged user when the master is root: it must be able to
  // read the temp dir and the files.
  chmodSync(tmp, 0o755);
  const www = join(tmp, 'www');
  const prefix = join(tmp, 'nginx');
  writeFiles(www);
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  let tlsServer = '';
  let tlsPort;
  let tlsProxyPort;
  if (tls) {
    const { cert, key } = makeCertificate(prefix);
    do tlsPort = await freePort();
    while (tlsPort === port);
    do tlsProxyPort = await freePort();
    while (tlsProxyPort === tlsPort || tlsProxyPort === port);
    tlsServer = readFileSync(join(ROOT, 'bench/configs/nginx-tls-server.conf.template'), 'utf8')
      .replaceAll('{{TLS_PORT}}', String(tlsPort))
      .replaceAll('{{TLS_PROXY_PORT}}', String(tlsProxyPort))
      .replaceAll('{{TLS_CERT}}', cert)
      .replaceAll('{{TLS_KEY}}', key)
      .replaceAll('{{ROOT}}', www);
  }
  const nofile = nofileLimit();
  const conf = readFileSync(join(ROOT, 'bench/configs/nginx.conf.template'), 'utf8')
    .replaceAll('{{PREFIX}}', prefix)
    .replaceAll('{{ROOT}}', www)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{WORKERS}}', String(workers))
    .replaceAll('{{NOFILE}}', String(nofile))
    .replaceAll('{{WORKER_CONNECTIONS}}', String(Math.max(1024, nofile - 200)))
    .replaceAll('{{TLS_SERVER}}', tlsServer);
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  const args = ['-p', prefix, '-c', confPath, '-e', join(prefix, 'error.log')];
  const proc = cpus ? startProcess('nginx', 'taskset', ['-c', cpus, 'nginx', ...args]) : startProcess('nginx', 'nginx', args);
  await waitForPort(port, { proc });
  if (tls) await waitForPort(tlsPort, { proc });
  let workerPids = [];
  for (let i = 0; i < 100 && workerPids.length < workers; i++) {
    workerPids = childPids(proc.pid);
    if (workerPids.length < workers) await sleep(20);
  }
  if (workerPids.length < workers) throw new Error(`nginx started but ${workers - workerPids.length} of its ${workers} worker processes were not found`);
  return {
    port,
    tlsPort,
    tlsProxyPort,
    proc,
    workerPid: workerPids[0],
    workerPids,
    confPath,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    stop: () => stopProcess(proc),
  };
}
