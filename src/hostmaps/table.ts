/**
 * The in-memory copy of one host map: Redis keys → servers, and normalized hosts → the key that
 * wins for them. Every change goes through apply(), which computes the host's servers before and
 * after and reports a diff only when they differ, so Redis member order, re-reads and resyncs
 * that find nothing new are silent.
 *
 * Ordering: all reads go over one connection, whose replies arrive in the order the reads were
 * sent, so results are applied in `seq` order. `seq` is kept per key only so that a full sync can
 * tell "not seen by this SCAN" from "created after the SCAN passed it and read since".
 *
 * Duplicates: two keys that normalize to the same host (hostnames:WWW.Foo.com:backends and
 * hostnames:www.foo.com:backends) are never merged. The key whose host part is already
 * normalized wins; failing that, the smallest key in code-unit order. Every instance of a fleet
 * therefore picks the same one, whatever order SCAN returns them in. Reported once per key.
 */
import type { KeyTemplate } from './keys.js';
import { keyOf, lookupCandidates } from './keys.js';
import type { OnceLog } from './once.js';
import { sameServers } from './parse.js';
import type { HostResolution } from './types.js';

// Changed in place by a re-read (a resync re-reads every key): no new object per key per resync
// to promote and collect, which at 100,000 hosts grew the heap by tens of MB each time.
interface KeyEntry {
  readonly host: string;
  servers: readonly string[];
  seq: number;
}

/** `servers` null: the host is gone; `before` null: it is new. */
export type HostDiff = (host: string, servers: readonly string[] | null, before: readonly string[] | null) => void;

/**
 * Identical server lists are kept once, counted by the entries that hold them: a fleet's hosts
 * share a few backend sets (at 100,000 hosts over 500 backends this halves the copy's heap).
 */
class SharedLists {
  private readonly lists = new Map<string, { list: readonly string[]; refs: number }>();

  take(servers: readonly string[]): readonly string[] {
    const id = servers.join('\n');
    const known = this.lists.get(id);
    if (known) {
      known.refs += 1;
      return known.list;
    }
    const list = Object.freeze([...servers]);
    this.lists.set(id, { list, refs: 1 });
    return list;
  }

  drop(list: readonly string[]): void {
    const id = list.join('\n');
    const known = this.lists.get(id);
    if (known && --known.refs === 0) this.lists.delete(id);
  }

  clear(): void {
    this.lists.clear();
  }
}

export class HostTable {
  private readonly keys = new Map<string, KeyEntry>();
  private readonly lists = new SharedLists();
  /** host → the key it is read from. */
  private readonly winners = new Map<string, string>();
  /** host → every key that normalizes to it; only for hosts with more than one. */
  private readonly rivals = new Map<string, Set<string>>();

  constructor(
    readonly map: string,
    private readonly template: KeyTemplate,
    private readonly once: OnceLog,
    private readonly diff: HostDiff,
  ) {}

  get size(): number {
    return this.winners.size;
  }

  /** Records what a read of `key` found: its servers, or null when the key does not exist. */
  apply(key: string, host: string, servers: readonly string[] | null, seq: number): void {
    const before = this.serversOf(host);
    if (servers === null) this.removeKey(key, host);
    else this.setKey(key, host, servers, seq);
    const after = this.serversOf(host);
    if (!sameServers(before, after)) this.diff(host, after ?? null, before ?? null);
  }

  /** A full sync's SCAN returned `key`: it is not gone, whatever its read says (a failed or wrong-type read keeps it). */
  touch(key: string, seq: number): void {
    const entry = this.keys.get(key);
    if (entry && entry.seq < seq) entry.seq = seq;
  }

  /** After a complete SCAN: keys it did not return (touch) and no read touched since it began are gone. */
  removeUnseen(syncStartSeq: number): void {
    const gone: Array<[string, string]> = [];
    for (const [key, entry] of this.keys) {
      if (entry.seq < syncStartSeq) gone.push([key, entry.host]);
    }
    for (const [key, host] of gone) this.apply(key, host, null, syncStartSeq);
  }

  /** The keys that currently feed a host (one, or several rivals). */
  keysOf(host: string): string[] {
    const rivals = this.rivals.get(host);
    if (rivals) return [...rivals];
    const winner = this.winners.get(host);
    return winner === undefined ? [] : [winner];
  }

  servers(host: string): readonly string[] | undefined {
    return this.serversOf(host);
  }

  /** Exact entry first, then `*.parent` wildcards walking up the labels. */
  resolve(host: string): HostResolution | undefined {
    for (const entry of lookupCandidates(host)) {
      const servers = this.serversOf(entry);
      if (servers !== undefined) return { host, entry, servers };
    }
    return undefined;
  }

  *entries(): IterableIterator<[string, readonly string[]]> {
    for (const [host, key] of this.winners) {
      const entry = this.keys.get(key);
      if (entry) yield [host, entry.servers];
    }
  }

  /** The winning keys and their servers: what the cache file keeps. */
  *winningKeys(): IterableIterator<[string, readonly string[]]> {
    for (const key of this.winners.values()) {
      const entry = this.keys.get(key);
      if (entry) yield [key, entry.servers];
    }
  }

  /** Forgets everything without reporting diffs (a failed initial load). */
  clear(): void {
    this.keys.clear();
    this.lists.clear();
    this.winners.clear();
    this.rivals.clear();
  }

  private serversOf(host: string): readonly string[] | undefined {
    const key = this.winners.get(host);
    return key === undefined ? undefined : this.keys.get(key)?.servers;
  }

  private setKey(key: string, host: string, servers: readonly string[], seq: number): void {
    const old = this.keys.get(key);
    if (old && old.host === host) {
      if (!sameServers(old.servers, servers)) {
        const next = this.lists.take(servers);
        this.lists.drop(old.servers);
        old.servers = next;
      }
      old.seq = seq;
    } else {
      this.keys.set(key, { host, servers: this.lists.take(servers), seq });
      if (old) this.lists.drop(old.servers);
    }
    const winner = this.winners.get(host);
    if (winner === undefined) {
      this.winners.set(host, key);
      return;
    }
    if (winner === key && !this.rivals.has(host)) return;
    const rivals = this.rivals.get(host) ?? new Set([winner]);
    if (!rivals.has(key)) {
      rivals.add(key);
      this.reportDuplicate(host, key, rivals);
    }
    this.rivals.set(host, rivals);
    this.winners.set(host, this.pick(host, rivals));
  }

  private removeKey(key: string, host: string): void {
    const old = this.keys.get(key);
    if (!old) return;
    this.keys.delete(key);
    this.lists.drop(old.servers);
    const rivals = this.rivals.get(host);
    if (!rivals) {
      if (this.winners.get(host) === key) this.winners.delete(host);
      return;
    }
    rivals.delete(key);
    if (rivals.size === 1) this.rivals.delete(host);
    this.winners.set(host, this.pick(host, rivals));
  }

  private pick(host: string, keys: ReadonlySet<string>): string {
    const exact = keyOf(this.template, host);
    if (keys.has(exact)) return exact;
    let best: string | undefined;
    for (const key of keys) if (best === undefined || key < best) best = key;
    // keys is never empty here: callers pick among at least one rival.
    return best ?? exact;
  }

  private reportDuplicate(host: string, key: string, rivals: ReadonlySet<string>): void {
    const keys = [...rivals].sort();
    this.once.warn(
      `duplicate\0${key}`,
      { map: this.map, host, keys, winner: this.pick(host, rivals) },
      'hostmaps: keys normalize to the same host; using one (the normalized key, else the smallest), never a merge',
    );
  }
}
