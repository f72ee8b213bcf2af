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
  HostMapConfig,
  HostMapPoolConfig,
  HttpListenerConfig,
  HttpRequestInfo,
  AcceptProxyConfig,
  ListenerConfig,
  PassiveHealthConfig,
  ProxyProtocolVersion,
  PoolConfig,
  PoolView,
  QueueConfig,
  RedisConfig,
  RedisServersConfig,
  RouteConfig,
  RouteMatch,
  RouteTarget,
  SelectContext,
  SelectHook,
  SelectResult,
  ServerConfig,
  ServerState,
  TcpListenerConfig,
  TcpPoolListenerConfig,
  TcpRouteConfig,
  TcpRouteMatch,
  TcpRoutedListenerConfig,
  TimeoutsConfig,
} from './config/types.js';
export { ConfigError } from './config/errors.js';
export { resolveConfig } from './config/validate.js';
export { loadConfigFile } from './config/load.js';
export { Proxy } from './proxy.js';
export type { AddServerOptions, PoolHandle, ProxyEvents, ProxyOptions, ReloadOptions, ServerEvent, ServerInfo, StopOptions } from './proxy.js';
export type {
  HostMapStats,
  ListenerStats,
  PoolStats,
  ProxyHeaderStats,
  ProxyStats,
  RedisPoolStats,
  ServerStateName,
  ServerStats,
  TlsInspectStats,
  TrafficStats,
} from './stats.js';
