// The backend: an nginx of the harness's own (1 worker unless --backend-workers, no access log)
// serving test files from a temp dir. The files (1 KiB, 64 KiB, 1 MiB, 100 MiB of random bytes)
// are generated there and removed with it; nothing is written into the repository.
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

/**
 * Starts nginx in `tmp` with `workers` worker processes (pinned to `cpus` when given); resolves
 * { port, proc, workerPid (the first), workerPids, url(path), stop() }.
 */
export async function startBackend(tmp, { cpus, workers = 1 } = {}) {
  // nginx's worker runs as an unprivileged user when the master is root: it must be able to
  // read the temp dir and the files.
  chmodSync(tmp, 0o755);
  const www = join(tmp, 'www');
  const prefix = join(tmp, 'nginx');
  writeFiles(www);
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const nofile = nofileLimit();
  const conf = readFileSync(join(ROOT, 'bench/configs/nginx.conf.template'), 'utf8')
    .replaceAll('{{PREFIX}}', prefix)
    .replaceAll('{{ROOT}}', www)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{WORKERS}}', String(workers))
    .replaceAll('{{NOFILE}}', String(nofile))
    .replaceAll('{{WORKER_CONNECTIONS}}', String(Math.max(1024, nofile - 200)));
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  const args = ['-p', prefix, '-c', confPath, '-e', join(prefix, 'error.log')];
  const proc = cpus ? startProcess('nginx', 'taskset', ['-c', cpus, 'nginx', ...args]) : startProcess('nginx', 'nginx', args);
  await waitForPort(port, { proc });
  let workerPids = [];
  for (let i = 0; i < 100 && workerPids.length < workers; i++) {
    workerPids = childPids(proc.pid);
    if (workerPids.length < workers) await sleep(20);
  }
  if (workerPids.length < workers) throw new Error(`nginx started but ${workers - workerPids.length} of its ${workers} worker processes were not found`);
  return {
    port,
    proc,
    workerPid: workerPids[0],
    workerPids,
    confPath,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    stop: () => stopProcess(proc),
  };
}
