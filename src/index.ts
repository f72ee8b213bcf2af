/**
 * epoxy: a Linux reverse proxy for TCP and HTTP/1.1 with a C++ epoll/splice data plane and a
 * typed TypeScript control plane.
 *
 *   import { defineConfig, Proxy } from 'epoxy';
 *   const proxy = await Proxy.start(defineConfig({ ... }));
 *   await proxy.stop();
 */
export { defineConfig } from './config/types.js';
export type {
  Address,
  Balance,
  ConfigIssue,
  EngineTuning,
  EpoxyConfig,
  HashKey,
  HealthCheckConfig,
  HttpListenerConfig,
  HttpRequestInfo,
  ListenerConfig,
  PassiveHealthConfig,
  PoolConfig,
  PoolView,
  QueueConfig,
  RouteConfig,
  SelectContext,
  SelectHook,
  SelectResult,
  ServerConfig,
  ServerState,
  TcpListenerConfig,
  TimeoutsConfig,
} from './config/types.js';
export { ConfigError } from './config/errors.js';
export { resolveConfig } from './config/validate.js';
export { loadConfigFile } from './config/load.js';
export { Proxy } from './proxy.js';
export type { AddServerOptions, PoolHandle, ProxyEvents, ProxyOptions, ReloadOptions, ServerEvent, ServerInfo, StopOptions } from './proxy.js';
export type { ListenerStats, PoolStats, ProxyStats, ServerStateName, ServerStats, TrafficStats } from './stats.js';
