/**
 * Reading from Redis: SCAN pages over a key pattern and pipelined reads of many keys, with the
 * outcome of each key kept apart (a WRONGTYPE on one key must not fail its batch). Knows the
 * Redis commands and nothing of hosts or diffs.
 */
import type { Redis } from 'ioredis';

import type { HostMapFormat } from './types.js';

/** What one read of a key found. A missing key reads as an empty value (SMEMBERS/LRANGE say so). */
export type KeyRead =
  | { kind: 'value'; values: string[] }
  | { kind: 'wrongtype' }
  | { kind: 'error'; error: unknown };

export type PoolRead =
  | { kind: 'absent' }
  | { kind: 'set'; members: string[] }
  | { kind: 'hash'; fields: Record<string, string> }
  | { kind: 'wrongtype'; type: string }
  | { kind: 'error'; error: unknown };

export const SCAN_COUNT = 1000;
/** Pipelined read batches in flight during a SCAN: bounds memory, keeps the connection busy. */
const MAX_IN_FLIGHT = 4;

/**
 * Visits every key matching `match`, one SCAN page at a time. The next SCAN is sent while up to
 * MAX_IN_FLIGHT visits (pipelined reads) are pending, so reading overlaps scanning; visits still
 * complete in page order because they share one connection. SCAN may return a key twice: the
 * visit must be idempotent.
 */
export async function scanPages(redis: Redis, match: string, visit: (keys: string[]) => Promise<void>): Promise<void> {
  const pending: Array<Promise<void>> = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length === 0) continue;
    const visited = visit(keys);
    // Awaited below; marked handled now so a failure while we wait for SCAN is not "unhandled".
    visited.catch(() => undefined);
    pending.push(visited);
    if (pending.length >= MAX_IN_FLIGHT) await pending.shift();
  } while (cursor !== '0');
  await Promise.all(pending);
}

/** One pipeline: SMEMBERS (set format) or LRANGE 0 -1 (hipache) per key, in order. */
export async function readHostKeys(redis: Redis, keys: readonly string[], format: HostMapFormat): Promise<KeyRead[]> {
  const pipeline = redis.pipeline();
  for (const key of keys) {
    if (format === 'set') pipeline.smembers(key);
    else pipeline.lrange(key, 0, -1);
  }
  const replies = await pipeline.exec();
  if (replies === null) throw new Error('pipeline was discarded');
  return replies.map(([error, value]) => toKeyRead(error, value));
}

/** A single key, for a change notification. */
export async function readHostKey(redis: Redis, key: string, format: HostMapFormat): Promise<KeyRead> {
  try {
    const values = format === 'set' ? await redis.smembers(key) : await redis.lrange(key, 0, -1);
    return { kind: 'value', values };
  } catch (error) {
    return isWrongType(error) ? { kind: 'wrongtype' } : { kind: 'error', error };
  }
}

/** A pool key, SET or HASH, read atomically with its type in one MULTI. */
export async function readPoolKey(redis: Redis, key: string): Promise<PoolRead> {
  let replies: Array<[Error | null, unknown]> | null;
  try {
    replies = await redis.multi().type(key).smembers(key).hgetall(key).exec();
  } catch (error) {
    return { kind: 'error', error };
  }
  if (replies === null) return { kind: 'error', error: new Error('transaction was discarded') };
  const [typeReply, setReply, hashReply] = replies;
  const type = typeof typeReply?.[1] === 'string' ? typeReply[1] : 'none';
  if (type === 'none') return { kind: 'absent' };
  if (type === 'set' && setReply && !setReply[0]) return { kind: 'set', members: asStrings(setReply[1]) };
  if (type === 'hash' && hashReply && !hashReply[0]) return { kind: 'hash', fields: asFields(hashReply[1]) };
  return { kind: 'wrongtype', type };
}

export function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

function toKeyRead(error: Error | null, value: unknown): KeyRead {
  if (error) return isWrongType(error) ? { kind: 'wrongtype' } : { kind: 'error', error };
  return { kind: 'value', values: asStrings(value) };
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** HGETALL as an object (ioredis' reply transformer) or as a flat [field, value, …] array. */
function asFields(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    const out = Object.create(null) as Record<string, string>;
    for (let i = 0; i + 1 < value.length; i += 2) out[String(value[i])] = String(value[i + 1]);
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  }
  return {};
}
