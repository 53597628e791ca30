/**
 * How many file descriptors the hub may use, and the connection limits that follow from it.
 *
 * Every client connection is a descriptor. A process that runs out of them cannot accept
 * anything — `/healthz` included — nor open a file or an engine connection. So the default
 * limits are derived from the process's open-file limit (`RLIMIT_NOFILE`), each with headroom
 * for the layer below it:
 *
 * - the process keeps a tenth of the descriptors (at least 64) for itself: its own files, engine
 *   and JWKS connections, logs;
 * - client connections of every kind may use the rest (`--max-sockets`);
 * - subscriber streams may use nine tenths of those (`--max-connections`, at most 100 000), so
 *   that at the subscriber limit (429) publishers, `/healthz` and `/metrics` still get in;
 * - one client address may hold `--max-connections-per-ip` + 100 connections, at most half of
 *   `--max-sockets` (`--max-sockets-per-ip`), so that one address can never take them all.
 *
 * Node raises its soft limit to the hard one at startup; the limit is read from
 * `/proc/self/limits` (Linux). Where that file does not exist, {@link ASSUMED_FD_LIMIT} is
 * assumed: set the limits explicitly there.
 * @packageDocumentation
 */

import { readFileSync } from 'node:fs';

/** The open-file limit assumed where it cannot be read (no `/proc/self/limits`). */
export const ASSUMED_FD_LIMIT = 4096;
/** The largest default of `--max-connections`, however many descriptors there are. */
export const MAX_DEFAULT_CONNECTIONS = 100_000;
/** Connections one address may hold beyond `--max-connections-per-ip` (its other requests). */
export const PER_IP_SOCKET_ALLOWANCE = 100;
/** Used for an `unlimited` open-file limit. */
const UNLIMITED = 1 << 20;

/** The open-file limit, and whether it was read or assumed. */
export interface FdLimit {
  /** Descriptors the process may have open. */
  readonly limit: number;
  /** `true` when read from the operating system, `false` when {@link ASSUMED_FD_LIMIT}. */
  readonly measured: boolean;
}

/**
 * Reads the process's soft open-file limit from `/proc/self/limits`.
 * @param read - reads the limits file (injectable for tests)
 * @returns the limit, or {@link ASSUMED_FD_LIMIT} (not measured) when it cannot be read
 */
export function readFdLimit(
  read: () => string = () => readFileSync('/proc/self/limits', 'utf8'),
): FdLimit {
  let text: string;
  try {
    text = read();
  } catch {
    return { limit: ASSUMED_FD_LIMIT, measured: false };
  }
  // "Max open files            1024                 1048576              files"
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (match === null) return { limit: ASSUMED_FD_LIMIT, measured: false };
  const soft = match[1] === 'unlimited' ? UNLIMITED : Number(match[1]);
  return { limit: soft, measured: true };
}

/**
 * The default `--max-sockets` for `fdLimit` descriptors: all but a tenth (at least 64) that the
 * process keeps for itself.
 * @param fdLimit - the open-file limit
 */
export function defaultSockets(fdLimit: number): number {
  return Math.max(16, fdLimit - Math.max(64, Math.ceil(fdLimit / 10)));
}

/**
 * The default `--max-connections` below `maxSockets` client connections: nine tenths of them
 * (leaving at least 16), at most {@link MAX_DEFAULT_CONNECTIONS}.
 * @param maxSockets - the limit of client connections in all
 */
export function defaultConnections(maxSockets: number): number {
  return Math.min(
    MAX_DEFAULT_CONNECTIONS,
    Math.max(1, maxSockets - Math.max(16, Math.ceil(maxSockets / 10))),
  );
}

/**
 * The default `--max-sockets-per-ip`: `--max-connections-per-ip` plus
 * {@link PER_IP_SOCKET_ALLOWANCE}, at most half of `maxSockets`; 0 (no limit) only when
 * neither of them is bounded.
 * @param maxConnectionsPerIp - the per-IP subscriber limit (0 = none)
 * @param maxSockets - the limit of client connections in all (0 = none)
 */
export function defaultSocketsPerIp(maxConnectionsPerIp: number, maxSockets: number): number {
  const half = maxSockets > 0 ? Math.max(1, Math.floor(maxSockets / 2)) : Number.POSITIVE_INFINITY;
  const wanted =
    maxConnectionsPerIp > 0
      ? maxConnectionsPerIp + PER_IP_SOCKET_ALLOWANCE
      : Number.POSITIVE_INFINITY;
  const value = Math.min(half, wanted);
  return Number.isFinite(value) ? value : 0;
}
