/**
 * The cache file: a host map's last known content, so that an instance restarted while Redis is
 * down still routes (Envoy's "latch on to the previous configuration", across a restart).
 *
 * Format (JSON): { version: 1, map, key: <template>, format, savedAt: <ms epoch>,
 * entries: { <redis key>: [servers…] } }. It stores the winning Redis key of each host rather
 * than the host, so that a reload resolves duplicates exactly as the live copy does. A file from
 * another template or format is not this map's: it is ignored with a warning, like a corrupt one.
 *
 * Written atomically (temp file in the same directory, fsync, rename, fsync of the directory): a
 * crash mid-write leaves the previous file, never half of a new one.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';

import { parseServer } from './parse.js';
import type { HostMapFormat } from './types.js';

export const CACHE_VERSION = 1;

export interface CacheIdentity {
  map: string;
  key: string;
  format: HostMapFormat;
}

export interface CacheContent extends CacheIdentity {
  version: number;
  savedAt: number;
  entries: Record<string, string[]>;
}

/** The cached entries, or why the file cannot be used (missing, unreadable, corrupt, another map's). */
export async function readCache(file: string, identity: CacheIdentity): Promise<{ entries: Map<string, string[]>; savedAt: number } | { error: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'ENOENT' ? 'no cache file' : `cannot read it (${code ?? String(err)})` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { error: 'not valid JSON' };
  }
  return checkContent(data, identity);
}

function checkContent(data: unknown, identity: CacheIdentity): { entries: Map<string, string[]>; savedAt: number } | { error: string } {
  if (typeof data !== 'object' || data === null) return { error: 'not a JSON object' };
  const c = data as Partial<CacheContent>;
  if (c.version !== CACHE_VERSION) return { error: `version ${String(c.version)} is not ${CACHE_VERSION}` };
  if (c.key !== identity.key || c.format !== identity.format) {
    return { error: `written for key ${String(c.key)} (${String(c.format)}), not ${identity.key} (${identity.format})` };
  }
  if (typeof c.entries !== 'object' || c.entries === null || Array.isArray(c.entries)) return { error: 'entries is not an object' };
  const entries = new Map<string, string[]>();
  for (const [key, servers] of Object.entries(c.entries)) {
    if (!Array.isArray(servers)) return { error: `entry ${key} is not an array` };
    // Re-checked: a hand-edited file must not put a host name or junk on the request path.
    const valid = servers.filter((s): s is string => typeof s === 'string' && !('error' in parseServer(s)));
    entries.set(key, valid);
  }
  return { entries, savedAt: typeof c.savedAt === 'number' ? c.savedAt : 0 };
}

/** Writes `content` to `file` atomically. */
export async function writeCacheAtomic(file: string, content: CacheContent): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(JSON.stringify(content));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  // The rename is durable only once the directory entry is; some filesystems refuse fsync on a
  // directory handle, which then costs durability, not correctness.
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // see above
  }
}

/**
 * Serializes writes of one cache file and debounces them: at most one write per `minIntervalMs`
 * for single-key changes; a full sync asks for an immediate one. A write never overlaps another.
 */
export class CacheWriter {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private lastWriteAt = 0;
  private again = false;

  constructor(
    private readonly file: string,
    private readonly snapshot: () => CacheContent,
    private readonly onError: (err: unknown) => void,
    private readonly minIntervalMs = 1000,
  ) {}

  /** A change was applied: write within minIntervalMs. */
  schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastWriteAt + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, wait);
    this.timer.unref();
  }

  /** Writes now (after a full sync), or right after the write under way. */
  async writeNow(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    this.writing = this.runWrites();
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }

  /** Waits for a write under way and performs a scheduled one now (stop()). */
  async flush(): Promise<void> {
    if (this.timer) await this.writeNow();
    else if (this.writing) await this.writing;
  }

  private async runWrites(): Promise<void> {
    do {
      this.again = false;
      this.lastWriteAt = Date.now();
      try {
        await writeCacheAtomic(this.file, this.snapshot());
      } catch (err) {
        this.onError(err);
      }
    } while (this.again);
  }
}
