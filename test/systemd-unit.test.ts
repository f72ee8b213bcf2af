/**
 * examples/epoxy.service: systemd parses it (`systemd-analyze verify`, when installed), and the
 * settings that epoxy's stop and reload depend on are there.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { resolveConfig } from '../src/config/validate.js';

const unitPath = new URL('../examples/epoxy.service', import.meta.url).pathname;
const unit = readFileSync(unitPath, 'utf8');

/** The values of `key` in the unit's active (uncommented) lines. */
function settings(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).error === undefined;

/**
 * Runs `systemd-analyze verify` on `text` saved as epoxy.service. verify checks that ExecStart's
 * program exists, and the unit names its install location (/opt/epoxy), so that path is pointed
 * at an executable stub; every other line is verified as written.
 */
function verify(text: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-unit-'));
  const stub = join(dir, 'bin', 'epoxy');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(stub, '#!/bin/sh\n');
  chmodSync(stub, 0o755);
  const installed = '/opt/epoxy/node_modules/.bin/epoxy';
  expect(settings(text, 'ExecStart')[0]?.startsWith(`${installed} `)).toBe(true);
  const file = join(dir, 'epoxy.service');
  writeFileSync(file, text.replace(`ExecStart=${installed} `, `ExecStart=${stub} `));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('examples/epoxy.service', () => {
  it('passes systemd-analyze verify without a warning', (ctx) => {
    if (!hasAnalyze) ctx.skip('systemd-analyze is not installed (Debian: the systemd package)');
    const r = verify(unit);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('still passes with the lines for ports below 1024 uncommented', (ctx) => {
    if (!hasAnalyze) ctx.skip('systemd-analyze is not installed (Debian: the systemd package)');
    const withCapability = unit.replace(/^#(AmbientCapabilities|CapabilityBoundingSet)=CAP_NET_BIND_SERVICE$/gm, '$1=CAP_NET_BIND_SERVICE');
    expect(settings(withCapability, 'AmbientCapabilities')).toEqual(['CAP_NET_BIND_SERVICE']);
    const r = verify(withCapability);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs the bin itself, reloads with SIGHUP and stops with SIGTERM after more than the default grace', async () => {
    expect(settings(unit, 'Type')).toEqual(['simple']);
    expect(settings(unit, 'ExecStart')[0]).toMatch(/\/epoxy run( --no-watch)? \/etc\/epoxy\/epoxy\.config\.ts$/);
    expect(settings(unit, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(settings(unit, 'KillSignal')).toEqual(['SIGTERM']);
    expect(settings(unit, 'Restart')).toEqual(['on-failure']);
    expect(settings(unit, 'NoNewPrivileges')).toEqual(['yes']);
    expect(settings(unit, 'ProtectSystem')).toEqual(['strict']);
    expect(Number(settings(unit, 'LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536);
    // systemd's SIGKILL must not land in the middle of a drain.
    const minimal = await resolveConfig({ listeners: [{ name: 'l', bind: '127.0.0.1:1', mode: 'tcp', pool: 'p' }], pools: { p: { servers: ['127.0.0.1:2'] } } });
    if (!minimal.ok) throw new Error('the minimal config should be valid');
    expect(Number(settings(unit, 'TimeoutStopSec')[0]) * 1000).toBeGreaterThan(minimal.config.shutdownGraceMs);
    // Binding below 1024 is opt-in.
    expect(settings(unit, 'AmbientCapabilities')).toEqual([]);
  });
});
