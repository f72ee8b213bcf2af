#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { ConfigIssue, EpoxyConfig, ResolvedConfig } from '../config/types.js';
import { resolveConfig } from '../config/validate.js';
import { createLogger } from '../log/logger.js';
import { printFailure, printIssues } from './report.js';
import { shutdownOnSignal } from './signals.js';

const DEFAULT_CONFIG = './epoxy.config.ts';

const USAGE = `Usage: epoxy <command> [config]

Commands:
  run [config]     start the proxy (config defaults to ${DEFAULT_CONFIG})
  check <config>   validate a config file and list every problem with its field path

Options:
  -h, --help       show this help
  --version        print the version

Config files may be .ts, .mts, .js, .mjs or .json. The log level comes from EPOXY_LOG_LEVEL
(default info).
`;

/** Exit codes: 0 ok, 1 the config or the proxy failed, 2 the command line was wrong. */
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
  const option = args.find((a) => a.startsWith('-'));
  if (option) return usageError(`unknown option "${option}"`);

  switch (command) {
    case 'check':
      if (args.length !== 1 || args[0] === undefined) return usageError('check needs exactly one config file');
      return check(args[0]);
    case 'run':
      if (args.length > 1) return usageError('run takes at most one config file');
      return run(args[0] ?? DEFAULT_CONFIG);
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

async function run(file: string): Promise<number> {
  const loaded = await loadAndResolve(file);
  if (!loaded.ok) {
    printIssues(file, loaded.issues);
    return 1;
  }
  const logger = createLogger();
  // Imported here so that `epoxy check` works without loading the native addon.
  const { Proxy } = await import('../proxy.js');
  let proxy: Awaited<ReturnType<typeof Proxy.start>>;
  try {
    proxy = await Proxy.start(loaded.raw as EpoxyConfig, { logger });
  } catch (err) {
    printFailure(file, err);
    return 1;
  }
  // The proxy logs each listener as it binds; this line ties the run to its config file.
  const binds = loaded.config.listeners.map((l) => l.bind);
  logger.info({ version: version(), config: file, listening: binds }, `epoxy running ${file}, listening on ${binds.join(', ')}`);
  return shutdownOnSignal(logger, () => proxy.stop());
}

type Loaded = { ok: true; raw: unknown; config: ResolvedConfig } | { ok: false; issues: ConfigIssue[] };

async function loadAndResolve(file: string): Promise<Loaded> {
  let raw: unknown;
  try {
    raw = await loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, issues: err.issues };
    throw err;
  }
  const result = await resolveConfig(raw);
  return result.ok ? { ok: true, raw, config: result.config } : result;
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
