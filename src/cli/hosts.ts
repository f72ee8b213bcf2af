/**
 * `epoxy hosts <config> …` and `epoxy servers <config> …`: the operator commands of
 * src/hostmaps/commands.ts on the Redis that the config names. The config is loaded as `epoxy
 * check` loads it and the native addon is never loaded. Each change is one MULTI with its
 * PUBLISH (commands.ts); the output is the entry or the pool as it is after the change, one line
 * a server, or JSON with --json.
 *
 * Exit codes: 0 done, 1 a failure (the config, an unknown map or pool, a bad argument value,
 * Redis), 2 the command line (thrown as UsageError for main.ts to print with the usage text).
 */
import type { ResolvedConfig, ResolvedHostMap, ResolvedRedis } from '../config/types.js';
import * as cmd from '../hostmaps/commands.js';
import { parseHost } from '../hostmaps/keys.js';
import { scrubSecret } from '../hostmaps/redis-url.js';
import type { PoolSourceSettings, WeightedServer } from '../hostmaps/types.js';
import { loadAndResolve } from './load.js';
import { printIssues } from './report.js';

/** A wrong command line: main.ts prints it with the usage text and exits 2. */
export class UsageError extends Error {}

/** Options that take a value; the rest of the accepted options are flags. */
const VALUE_OPTIONS = new Set(['--map', '--id']);

interface Arity {
  min: number;
  max: number;
  /** The arguments after the sub-command, for the usage message. */
  shape: string;
}

const HOSTS: Record<string, Arity> = {
  set: { min: 2, max: Infinity, shape: '<host> <addr>...' },
  add: { min: 2, max: Infinity, shape: '<host> <addr>...' },
  remove: { min: 2, max: Infinity, shape: '<host> <addr>...' },
  get: { min: 1, max: 1, shape: '<host>' },
  list: { min: 0, max: 1, shape: '[pattern]' },
  del: { min: 1, max: 1, shape: '<host>' },
};

const SERVERS: Record<string, Arity> = {
  add: { min: 2, max: 3, shape: '<pool> <addr> [weight]' },
  remove: { min: 2, max: 2, shape: '<pool> <addr>' },
  list: { min: 1, max: 1, shape: '<pool>' },
};

interface CommandLine {
  file: string;
  sub: string;
  operands: string[];
  options: Map<string, string>;
  json: boolean;
}

/** A failure to report on one line and exit 1 with. */
class Failure extends Error {}

export async function hostsCommand(args: readonly string[]): Promise<number> {
  const line = parseCommandLine('hosts', HOSTS, args);
  if (line.options.has('--id') && line.sub !== 'set') throw new UsageError('--id goes with hosts set');
  return withConfig(line, async (config, redis) => {
    const map = pickMap(config, line.options.get('--map'));
    const [host = '', ...addresses] = line.operands;
    switch (line.sub) {
      case 'set': {
        const identifier = line.options.get('--id');
        if (identifier !== undefined && map.format !== 'hipache') {
          throw new UsageError(`--id is for hipache maps; host map "${map.name}" has format '${map.format}'`);
        }
        const servers = await cmd.hostsSet(redis, map, host, addresses, identifier === undefined ? {} : { identifier });
        return printHostServers(line, map, host, servers);
      }
      case 'add':
        return printHostServers(line, map, host, await cmd.hostsAdd(redis, map, host, addresses));
      case 'remove':
        return printHostServers(line, map, host, await cmd.hostsRemove(redis, map, host, addresses));
      case 'get': {
        const entry = await cmd.hostsGet(redis, map, host);
        if (entry === null) throw new Failure(`host map "${map.name}" has no entry for ${normalized(host)}`);
        if (line.json) return printJson({ map: map.name, ...entry });
        const fields: Array<[string, string]> = [['host', entry.host], ['key', entry.key]];
        if (entry.identifier !== undefined) fields.push(['identifier', entry.identifier]);
        for (const server of entry.servers) fields.push(['server', server]);
        for (const skipped of entry.invalid) fields.push(['skipped', skipped]);
        return printLines(fields.map(([name, value]) => `${name.padEnd(10)} ${value}`));
      }
      case 'list': {
        const hosts = await cmd.hostsList(redis, map, line.operands[0]);
        return line.json ? printJson({ map: map.name, hosts }) : printLines(hosts);
      }
      case 'del': {
        const deleted = await cmd.hostsDel(redis, map, host);
        const name = normalized(host);
        if (line.json) return printJson({ map: map.name, host: name, deleted });
        return printLines([deleted ? `deleted ${name}` : `${name} had no entry: nothing deleted`]);
      }
    }
    throw new Error(`hosts ${line.sub}: not implemented`); // parseCommandLine admits only the sub-commands above
  });
}

export async function serversCommand(args: readonly string[]): Promise<number> {
  const line = parseCommandLine('servers', SERVERS, args);
  return withConfig(line, async (config, redis) => {
    const [name = '', address = '', weight] = line.operands;
    const pool = pickPool(config, name);
    let servers: WeightedServer[];
    if (line.sub === 'add') servers = await cmd.serversAdd(redis, pool, address, weight);
    else if (line.sub === 'remove') servers = await cmd.serversRemove(redis, pool, address);
    else servers = await cmd.serversList(redis, pool);
    if (line.json) return printJson({ pool: pool.pool, key: pool.key, servers });
    if (servers.length === 0) process.stderr.write(`epoxy: pool ${pool.pool} has no servers in ${pool.key}\n`);
    return printLines(servers.map((s) => `${s.address} ${s.weight}`));
  });
}

function parseCommandLine(command: string, subs: Record<string, Arity>, args: readonly string[]): CommandLine {
  const positional: string[] = [];
  const options = new Map<string, string>();
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--json') {
      json = true;
    } else if (VALUE_OPTIONS.has(arg)) {
      const value = args[++i];
      if (value === undefined || value.startsWith('-')) throw new UsageError(`${arg} needs a value`);
      options.set(arg, value);
    } else {
      positional.push(arg);
    }
  }
  const [file, sub, ...operands] = positional;
  const known = Object.keys(subs).join('|');
  if (file === undefined || sub === undefined) throw new UsageError(`${command} needs a config file and a sub-command (${known})`);
  const arity = subs[sub];
  if (arity === undefined) throw new UsageError(`unknown ${command} sub-command "${sub}" (${known})`);
  if (operands.length < arity.min || operands.length > arity.max) {
    throw new UsageError(`usage: epoxy ${command} <config> ${sub} ${arity.shape}`);
  }
  return { file, sub, operands, options, json };
}

/**
 * Loads the config, checks it names a Redis, and runs `use`; a Failure or an error from the
 * commands is printed on one line (any password removed) and exits 1.
 */
async function withConfig(line: CommandLine, use: (config: ResolvedConfig, redis: ResolvedRedis) => Promise<number>): Promise<number> {
  const loaded = await loadAndResolve(line.file);
  if (!loaded.ok) {
    printIssues(line.file, loaded.issues);
    return 1;
  }
  const { redis } = loaded.config;
  if (redis === undefined) return fail(`${line.file} has no redis: host maps and Redis pools need redis: { url: "redis://…" }`);
  try {
    return await use(loaded.config, redis);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // commands.ts already removes the password; this is the guard for whatever it did not write.
    return fail(scrubSecret(err instanceof Error ? err.message : String(err), redis.url));
  }
}

function pickMap(config: ResolvedConfig, name: string | undefined): ResolvedHostMap {
  const names = config.hostMaps.map((m) => m.name);
  if (names.length === 0) throw new Failure('the config has no hostMaps');
  if (name === undefined) {
    if (config.hostMaps.length === 1 && config.hostMaps[0]) return config.hostMaps[0];
    throw new UsageError(`--map is required: the config has host maps ${names.join(', ')}`);
  }
  const map = config.hostMaps.find((m) => m.name === name);
  if (!map) throw new Failure(`unknown host map "${name}" (known: ${names.join(', ')})`);
  return map;
}

function pickPool(config: ResolvedConfig, name: string): PoolSourceSettings {
  const inRedis = config.pools.flatMap((p) => (p.source && 'redis' in p.source ? [p.name] : []));
  const known = `pools with servers in Redis: ${inRedis.length > 0 ? inRedis.join(', ') : 'none'}`;
  const pool = config.pools.find((p) => p.name === name);
  if (!pool) throw new Failure(`unknown pool "${name}" (${known})`);
  if (!pool.source) throw new Failure(`pool "${name}" lists its servers in the config, not in Redis (${known})`);
  if ('hostMap' in pool.source) {
    throw new Failure(`pool "${name}" is the pool of host map "${pool.source.hostMap}": its servers are the map's; change them with epoxy hosts (${known})`);
  }
  return { pool: name, key: pool.source.redis };
}

function printHostServers(line: CommandLine, map: ResolvedHostMap, host: string, servers: readonly string[]): number {
  const name = normalized(host);
  if (line.json) return printJson({ map: map.name, host: name, servers });
  if (servers.length === 0) process.stderr.write(`epoxy: ${name} has no servers in host map ${map.name}\n`);
  return printLines(servers);
}

/** The host as commands.ts stores it (it has validated the text by the time this runs). */
function normalized(host: string): string {
  const parsed = parseHost(host);
  return 'host' in parsed ? parsed.host : host;
}

function printLines(lines: readonly string[]): number {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function printJson(value: unknown): number {
  process.stdout.write(`${JSON.stringify(value)}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`epoxy: ${message}\n`);
  return 1;
}
