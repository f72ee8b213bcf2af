/** Host maps and pool memberships shared by a fleet through Redis (issue 16): the module's surface. */
export { HostMapSource, type HostMapSourceOptions } from './source.js';
export type {
  ConnectionState, HostMapFormat, HostMapListener, HostMapSettings, HostMapSourceStates, HostMapState, HostResolution,
  PoolSourceSettings, PoolSourceState, RedisSettings, WeightedServer,
} from './types.js';
export { parseRedisUrl, redact } from './redis-url.js';
export { compileTemplate, normalizeHost, parseHost } from './keys.js';
export { parseHipacheUrl, parseServer } from './parse.js';
export * as hostCommands from './commands.js';
