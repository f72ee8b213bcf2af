#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import type { EpoxyConfig } from '../config/types.js';
import { createLogger } from '../log/logger.js';
import { hostsCommand, serversCommand, UsageError } from './hosts.js';
import { loadAndResolve } from './load.js';
import { startReloader, type Reloader } from './reload.js';
import { printFailure, printIssues } from './report.js';
import { shutdownOnSignal } from './signals.js';

const DEFAULT_CONFIG = './epoxy.config.ts';

const USAGE = `Usage: epoxy <command> [options] [config]

Commands:
  run [config]     start the proxy (config defaults to ${DEFAULT_CONFIG})
  check <config>   validate a config file and list every problem with its field path
  hosts <config> set|add|remove <host> <addr>...
  hosts <config> get|del <host>
  hosts <config> list [pattern]
                   change or read a host map's entries in the config's Redis (each
                   change is one MULTI with its PUBLISH on redis.channel)
  servers <config> add <pool> <addr> [weight]
  servers <config> remove <pool> <addr>
  servers <config> list <pool>
                   change or read the members of a pool whose servers are in Redis

Options:
  --no-watch       run: reload only on SIGHUP, not when the config file changes
  --map <name>     hosts: the host map (required when the config has several)
  --id <ident>     hosts set, hipache maps: the list's identifier (default: the host)
  --json           hosts, servers: print JSON instead of one line per server
  -h, --help       show this help
  --version        print the version

\`epoxy run\` logs one line per listener and, when the config has \`admin\`, the admin URL.
\`epoxy hosts\` and \`epoxy servers\` print the entry or the pool as it is after the change.

Signals (run):
  SIGHUP           reload the config file (also on change, unless --no-watch); a version
                   that fails to load or validate is logged problem by problem, and the
                   running config stays
  SIGTERM, SIGINT  stop gracefully: close the listeners, give sessions in flight up to
                   shutdownGraceMs (default 10000) to finish, then exit 0; a second signal
                   exits at once with 1

Exit codes:
  0  run: stopped by SIGTERM/SIGINT; check: the config is valid; hosts, servers: done
  1  the config is invalid, the proxy failed to start or to stop, or a fatal error;
     hosts, servers: no such host map, pool or entry, an invalid host, address or
     weight, or Redis failed or is unreachable
  2  usage: unknown command or option, wrong number of config files or arguments,
     --map missing with several host maps

Config files may be .ts, .mts, .js, .mjs or .json. The log level comes from EPOXY_LOG_LEVEL
(default info).
`;

/** Options each command accepts; anything else that starts with "-" is a usage error. */
const COMMAND_OPTIONS: Record<string, string[]> = {
  run: ['--no-watch'],
  hosts: ['--map', '--id', '--json'],
  servers: ['--json'],
};

/**
 * Exit codes: 0 ok, 1 the config or the proxy failed (at start or while stopping; a failed reload
 * is logged and the run goes on), 2 the command line was wrong.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) return usage(process.stdout, 0);
  if (command === '-h' || command === '--help' || command === 'help' || args.includes('--help') || args.includes('-h')) {
    return usage(process.stdout, 0);
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const accepted = COMMAND_OPTIONS[command] ?? [];
  const option = args.find((a) => a.startsWith('-') && !accepted.includes(a));
  if (option) return usageError(`unknown option "${option}"`);
  const files = args.filter((a) => !a.startsWith('-'));

  switch (command) {
    case 'check':
      if (files.length !== 1 || files[0] === undefined) return usageError('check needs exactly one config file');
      return check(files[0]);
    case 'run':
      if (files.length > 1) return usageError('run takes at most one config file');
      return run(files[0] ?? DEFAULT_CONFIG, { watch: !args.includes('--no-watch') });
    case 'hosts':
      return usageErrors(() => hostsCommand(args));
    case 'servers':
      return usageErrors(() => serversCommand(args));
    default:
      return usageError(`unknown command "${command}"`);
  }
}

async function check(file: string): Promise<number> {
  const loaded = await loadAndResolve(file);
  if (!loaded.ok) {
    printIssues(file, loaded.issues);
    return 1;
  }
  const { listeners, pools } = loaded.config;
  const servers = pools.reduce((n, p) => n + p.servers.length, 0);
  process.stdout.write(
    `epoxy: ${file} is valid: ${plural(listeners.length, 'listener')}, ${plural(pools.length, 'pool')}, ${plural(servers, 'server')}\n`,
  );
  return 0;
}

async function run(file: string, options: { watch: boolean }): Promise<number> {
  const loaded = await loadAndResolve(file);
  if (!loaded.ok) {
    printIssues(file, loaded.issues);
    return 1;
  }
  const logger = createLogger();
  // Imported here so that `epoxy check` works without loading the native addon.
  const { Proxy } = await import('../proxy.js');
  let proxy: Awaited<ReturnType<typeof Proxy.start>>;
  // The admin API's POST /api/reload goes through the reloader, in turn with SIGHUP and file
  // changes; the reloader starts once the proxy runs, so a call before that is refused.
  let reloader: Reloader | undefined;
  const reload = () => reloader?.reload('api') ?? Promise.reject(new Error('reload refused: still starting'));
  try {
    proxy = await Proxy.start(loaded.raw as EpoxyConfig, { logger, reload });
  } catch (err) {
    printFailure(file, err);
    return 1;
  }
  reloader = startReloader({
    file,
    logger,
    watch: options.watch,
    apply: (raw, logFields) => proxy.reload(raw as EpoxyConfig, { logFields }),
  });
  // The proxy logs each listener as it binds; this line ties the run to its config file. It
  // comes after the reloader starts, so whoever waits for it can count on edits being seen.
  const binds = loaded.config.listeners.map((l) => l.bind);
  logger.info(
    { version: version(), config: file, listening: binds, watching: reloader.watching },
    `epoxy running ${file}, listening on ${binds.join(', ')}`,
  );
  const running = reloader;
  // stop() without graceMs takes the running config's shutdownGraceMs, a reloaded one included.
  return shutdownOnSignal(logger, () => {
    running.close();
    return proxy.stop();
  });
}

/** hosts and servers check their own arguments (options with values) and throw UsageError. */
async function usageErrors(command: () => Promise<number>): Promise<number> {
  try {
    return await command();
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  }
}

function usage(out: NodeJS.WritableStream, code: number): number {
  out.write(USAGE);
  return code;
}

function usageError(message: string): number {
  process.stderr.write(`epoxy: ${message}\n\n`);
  return usage(process.stderr, 2);
}

function version(): string {
  // Two levels up from both src/cli/main.ts and dist/cli/main.js.
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const v = typeof pkg === 'object' && pkg !== null && 'version' in pkg ? pkg.version : undefined;
  return typeof v === 'string' ? v : 'unknown';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`epoxy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
