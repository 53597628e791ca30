/**
 * How the Redis engine reaches Redis: one URL names a single server, a Sentinel-managed master
 * or a Redis Cluster, and this file turns it into an ioredis client with the engine's
 * fail-fast settings.
 *
 * - `redis://[user:pass@]host:port[/db]`, `rediss://…` — one server (TLS with `rediss`).
 * - `redis+sentinel://[user:pass@]host:port[,host:port…]/<master name>[/db]` — ask the
 *   sentinels for the master and follow failovers. `user:pass` authenticate to the master; add
 *   `?sentinelPassword=…` when the sentinels require a password of their own.
 * - `redis+cluster://[user:pass@]host:port[,host:port…]` — any reachable nodes of a cluster; the
 *   engine's keys share one hash tag, so they live on one slot.
 *
 * @packageDocumentation
 */

import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { HeraldEngineError } from './engine.js';

/** A client the engine can run commands on: one server (or a sentinel master) or a cluster. */
export type RedisClient = Redis | Cluster;

/** The URL schemes {@link connectRedis} understands. */
export const REDIS_SCHEMES = ['redis', 'rediss', 'redis+sentinel', 'redis+cluster'] as const;

/** Settings every engine connection shares: fail fast, reconnect with capped backoff. */
export interface RedisConnectOptions {
  /** Pause before reconnection attempt `times` (1, 2, …), in milliseconds. */
  retryStrategy(times: number): number;
}

function invalid(url: string, why: string): never {
  throw new HeraldEngineError(
    'INVALID_OPTIONS',
    `redisEngine: ${why} in ${JSON.stringify(redact(url))}; use redis://host:port, redis+sentinel://host:port,host:port/<master> or redis+cluster://host:port,host:port`,
  );
}

/** The URL with its password replaced by `***`, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

interface ParsedMultiHost {
  hosts: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
  path: string[];
  params: URLSearchParams;
}

/** Parses `scheme://[user:pass@]h:p,h:p[/path][?query]` (WHATWG URL refuses several hosts). */
function parseMultiHost(url: string): ParsedMultiHost {
  const m = /^[a-z+]+:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url);
  if (m === null) invalid(url, 'cannot read the hosts');
  const hosts = m[3]!.split(',').map((hp) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(hp.trim());
    if (hm === null) invalid(url, `"${hp}" is not host:port`);
    const port = hm[2] === undefined ? 0 : Number(hm[2]);
    if (port < 1 || port > 65535) invalid(url, `"${hp}" needs a port between 1 and 65535`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const decode = (s: string | undefined) =>
    s === undefined || s === '' ? undefined : decodeURIComponent(s);
  return {
    hosts,
    username: decode(m[1]),
    password: decode(m[2]),
    path: (m[4] ?? '').split('/').filter((p) => p !== ''),
    params: new URLSearchParams(m[5] ?? ''),
  };
}

function dbOf(url: string, segment: string | undefined): number | undefined {
  if (segment === undefined) return undefined;
  if (!/^\d+$/.test(segment)) invalid(url, `the database "${segment}" is not a number`);
  return Number(segment);
}

/**
 * Makes the ioredis client for `url`.
 *
 * @throws {@link HeraldEngineError} `INVALID_OPTIONS` for an unknown scheme or a malformed URL
 */
export function connectRedis(url: string, options: RedisConnectOptions): RedisClient {
  const scheme = url.split(':', 1)[0]!.toLowerCase();
  const common: RedisOptions = {
    retryStrategy: options.retryStrategy,
    enableOfflineQueue: false,
    // Fail commands in flight as soon as the connection drops: the caller decides what next.
    maxRetriesPerRequest: 0,
    lazyConnect: false,
  };
  if (scheme === 'redis' || scheme === 'rediss') return new Redis(url, common);
  if (scheme === 'redis+sentinel') {
    const p = parseMultiHost(url);
    const name = p.path[0];
    if (name === undefined) invalid(url, 'the master name (the path) is missing');
    return new Redis({
      ...common,
      sentinels: p.hosts,
      name: decodeURIComponent(name),
      username: p.username,
      password: p.password,
      sentinelPassword: p.params.get('sentinelPassword') ?? undefined,
      db: dbOf(url, p.path[1]),
      sentinelRetryStrategy: options.retryStrategy,
    });
  }
  if (scheme === 'redis+cluster') {
    const p = parseMultiHost(url);
    if (p.path.length > 0) invalid(url, 'a cluster has no databases or names (drop the path)');
    const { retryStrategy: _, enableOfflineQueue: __, ...redisOptions } = common;
    return new Cluster(p.hosts, {
      clusterRetryStrategy: options.retryStrategy,
      enableOfflineQueue: false,
      redisOptions: { ...redisOptions, username: p.username, password: p.password },
    });
  }
  return invalid(url, `unknown scheme "${scheme}:"`);
}

/**
 * Another connection like `client` — the same server, sentinels or cluster, credentials and
 * fail-fast settings — named `name` (in `CLIENT LIST`). On a cluster it is a second cluster
 * client that reads from masters only, whatever `client` does: the engine's connections must
 * all see every append that has completed (a replica may lag).
 */
export function duplicateRedis(client: RedisClient, name: string): RedisClient {
  if (client instanceof Redis) return client.duplicate({ connectionName: name });
  return client.duplicate([], {
    scaleReads: 'master',
    redisOptions: { ...client.options.redisOptions, connectionName: name },
  });
}
