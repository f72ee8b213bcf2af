/** Per-test resources: cleanups run after each test (last first), proxies stopped with them, backends closed after the file. */
import type { Logger } from 'pino';
import { afterAll, afterEach } from 'vitest';

import { Proxy, type EpoxyConfig } from '../src/index.js';
import { logger } from './helpers.js';
import { httpBackend, type HttpBackend } from './http-helpers.js';

export type Cleanup = () => Promise<unknown>;

/** A list whose entries run after each test of the calling file, last pushed first. */
export function cleanupsAfterEach(): Cleanup[] {
  const list: Cleanup[] = [];
  afterEach(async () => {
    while (list.length) await list.pop()!();
  });
  return list;
}

/** Starts named HTTP backends (test/http-helpers.ts) for a test file; all are closed after its last test. */
export function httpBackendsAfterAll(): (name: string) => Promise<HttpBackend> {
  const started: HttpBackend[] = [];
  afterAll(async () => {
    for (const b of started.splice(0)) await b.close();
  });
  return async (name) => {
    const b = await httpBackend(name);
    started.push(b);
    return b;
  };
}

/** Starts a proxy that is stopped (200 ms grace) when the test ends. */
export async function startProxy(config: EpoxyConfig, cleanups: Cleanup[], log: Logger = logger): Promise<Proxy> {
  const proxy = await Proxy.start(config, { logger: log });
  cleanups.push(() => proxy.stop({ graceMs: 200 }));
  return proxy;
}
