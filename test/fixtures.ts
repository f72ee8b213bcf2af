/** Per-test resources: cleanups run after each test (last first), and proxies stopped with them. */
import type { Logger } from 'pino';
import { afterEach } from 'vitest';

import { Proxy, type EpoxyConfig } from '../src/index.js';
import { logger } from './helpers.js';

export type Cleanup = () => Promise<unknown>;

/** A list whose entries run after each test of the calling file, last pushed first. */
export function cleanupsAfterEach(): Cleanup[] {
  const list: Cleanup[] = [];
  afterEach(async () => {
    while (list.length) await list.pop()!();
  });
  return list;
}

/** Starts a proxy that is stopped (200 ms grace) when the test ends. */
export async function startProxy(config: EpoxyConfig, cleanups: Cleanup[], log: Logger = logger): Promise<Proxy> {
  const proxy = await Proxy.start(config, { logger: log });
  cleanups.push(() => proxy.stop({ graceMs: 200 }));
  return proxy;
}
