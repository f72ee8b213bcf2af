/** `epoxy run`: loads a TypeScript config, proxies, and stops gracefully on SIGTERM / SIGINT. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

import { connect, echoBackend, freePort, readBytes } from './helpers.js';
import { httpBackend, request } from './http-helpers.js';

const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;

async function runUntilListening(config: string): Promise<{ child: ReturnType<typeof spawn>; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-run-'));
  const file = join(dir, 'epoxy.config.ts');
  writeFileSync(file, config);
  const child = spawn(process.execPath, [cli, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  for (let i = 0; i < 100 && !out.includes('"listening"') && !out.includes('listening'); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  it(`runs a TypeScript TCP config and stops gracefully on ${signal}`, async () => {
    const echo = await echoBackend();
    const port = await freePort();
    const { child, output } = await runUntilListening(
      `const config: { listeners: unknown[]; pools: Record<string, unknown> } = {
  listeners: [{ name: 'tcp', bind: '127.0.0.1:${port}', mode: 'tcp', pool: 'echo' }],
  pools: { echo: { servers: ['${echo.address}'] } },
};
export default config;
`,
    );
    const c = await connect(port);
    const reply = readBytes(c, 5);
    c.write('hello');
    expect((await reply).toString()).toBe('hello');
    c.destroy();
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    expect(code, output()).toBe(0);
    expect(output()).toContain('stopped');
    await echo.close();
  });
}

it('runs an HTTP config with routes', async () => {
  const web = await httpBackend('web');
  const port = await freePort();
  const { child, output } = await runUntilListening(
    `export default {
  listeners: [{ name: 'web', bind: '127.0.0.1:${port}', mode: 'http', routes: [{ host: 'app.test', pool: 'web' }] }],
  pools: { web: { servers: ['${web.address}'] } },
};
`,
  );
  const ok = await request(port, { path: '/hi', headers: { host: 'APP.test' } });
  expect(ok.status, output()).toBe(200);
  expect(ok.body.toString()).toBe('web GET /hi\n');
  expect((await request(port, { headers: { host: 'other.test' } })).status).toBe(404);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  expect(((await exited) as [number | null])[0]).toBe(0);
  await web.close();
});
