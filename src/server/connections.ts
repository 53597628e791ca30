/**
 * Client connections below the HTTP layer: how many sockets the hub holds, in all and per
 * address, and how long a connection without a request may stay.
 *
 * - `--max-sockets` bounds the connections of every kind. Its default keeps descriptors for the
 *   process below the open-file limit (`fd-limit.ts`). A connection that arrives at the bound
 *   takes the place of the connection that has been idle longest — no request in progress: an
 *   HTTP/2 session without streams, an HTTP/1.1 connection between requests or before its
 *   first, a TLS handshake — which is closed (as nginx reuses keep-alive connections when it runs
 *   out). Idle connections cost their owner nothing to open again, so a flood of them can never
 *   lock out a client with something to ask, `/healthz` included. Only when every connection
 *   is busy is the newcomer closed.
 * - `--max-sockets-per-ip` bounds the connections of one address (the socket's peer; a peer in
 *   `--trusted-proxies` relays many clients and is exempt): past it, the newcomer is closed.
 * - `--idle-timeout` closes an HTTP/2 session that has had no open stream for that long (GOAWAY,
 *   then the socket closes) and is node's `keepAliveTimeout` for HTTP/1.1. A connection that
 *   never sends a request is bounded by `--headers-timeout` (HTTP/1.1, TLS handshake) or, over
 *   HTTP/2, by the idle timeout: its session has no stream.
 *
 * Connections closed by a bound are counted (`herald_sockets_refused_total{limit}`) and logged
 * at most once per {@link REFUSAL_LOG_INTERVAL_MS} per bound, with how many there were.
 * @packageDocumentation
 */

import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type {
  Http2SecureServer,
  Http2Server,
  Http2ServerRequest,
  Http2ServerResponse,
  ServerHttp2Session,
  ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { NO_TRUSTED_PROXIES, resolveClientIp, type TrustedProxies } from './client-ip.js';

/** Why a connection was closed by a bound. */
export type SocketLimit = 'max-sockets' | 'max-sockets-per-ip' | 'evicted-idle';

/** Least time between two log lines about connections closed by one bound. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Options of {@link ConnectionGuard}. */
export interface ConnectionGuardOptions {
  /** Most open connections in all; 0 = no limit. */
  maxSockets: number;
  /** Most open connections from one address; 0 = no limit. */
  maxSocketsPerIp: number;
  /** Ms an HTTP/2 session without streams (or an HTTP/1.1 keep-alive) stays; 0 = forever. */
  idleTimeoutMs: number;
  /** Peers exempt from the per-address bound (they relay many clients). */
  trustedProxies: TrustedProxies;
  /** Where closures by a bound are logged. */
  logger: Logger;
  /** Called for each connection a bound closed. */
  onRefused?: (limit: SocketLimit) => void;
  /** Called for each HTTP/2 session closed for being idle. */
  onIdleClosed?: () => void;
}

/** One client connection, from its TCP socket to whatever protocol object it carries. */
interface Connection {
  /** Its {@link keyOf}. */
  readonly key: string;
  /** The accepted TCP socket. */
  readonly socket: Socket;
  /** The address the per-address bound counts it under. */
  readonly address: string;
  /** Requests (HTTP/1.1) or streams (HTTP/2) in progress. */
  busy: number;
  /** Its HTTP/2 session, once there is one. */
  session: ServerHttp2Session | undefined;
  /** The idle timer of its HTTP/2 session. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** A connection's key: the peer's address and port, the same on its TCP and TLS sockets. */
function keyOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }) {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * Counts and bounds the client connections of one server, and closes idle ones. Also the
 * server's list of connections and sessions for a shutdown.
 */
export class ConnectionGuard {
  readonly #options: ConnectionGuardOptions;
  /** Every open connection, by {@link keyOf}. */
  readonly #open = new Map<string, Connection>();
  /** The idle ones, longest idle first (a Map keeps insertion order). */
  readonly #idle = new Map<string, Connection>();
  readonly #perIp = new Map<string, number>();
  readonly #refusals = new Map<SocketLimit, { count: number; loggedAt: number }>();
  #sessions = 0;
  #closing = false;

  /** @param options - the bounds, and where closures are reported */
  constructor(options: ConnectionGuardOptions) {
    this.#options = options;
  }

  /** Open client connections. */
  get open(): number {
    return this.#open.size;
  }

  /** Open HTTP/2 sessions. */
  get sessions(): number {
    return this.#sessions;
  }

  /** Starts guarding `server`; call before it listens. */
  attach(server: HttpServer | Http2Server | Http2SecureServer): void {
    // First, before node:http, node:tls or node:http2 build anything on the socket.
    server.prependListener('connection', this.#onConnection);
    server.on('session', this.#onSession);
    server.on('request', this.#onRequest);
    // HTTP/1.1, and HTTP/1.1 over TLS (whose fallback reads it from the server too, and
    // otherwise never times out a keep-alive connection): the wait between requests.
    (server as { keepAliveTimeout?: number }).keepAliveTimeout = this.#options.idleTimeoutMs;
    // An accept that fails (EMFILE: the open-file limit reached anyway, by files or another
    // server in the process) must not end the process: log it; that connection is lost.
    server.on('error', this.#onServerError);
  }

  /** Sends every HTTP/2 session a GOAWAY (streams still open finish first). */
  closeSessions(): void {
    this.#closing = true;
    for (const connection of this.#open.values()) connection.session?.close();
  }

  /** Destroys every client connection at once. */
  destroyAll(): void {
    for (const connection of this.#open.values()) connection.socket.destroy();
  }

  #onConnection = (socket: Socket): void => {
    const { maxSockets, maxSocketsPerIp, trustedProxies } = this.#options;
    const peer = socket.remoteAddress;
    if (peer === undefined) {
      socket.destroy(); // gone before it was accepted
      return;
    }
    const address = resolveClientIp(peer, undefined, NO_TRUSTED_PROXIES);
    const fromAddress = this.#perIp.get(address) ?? 0;
    if (maxSocketsPerIp > 0 && fromAddress >= maxSocketsPerIp && !trustedProxies.trusts(peer)) {
      socket.destroy();
      this.#report('max-sockets-per-ip', address);
      return;
    }
    if (maxSockets > 0 && this.#open.size >= maxSockets) {
      const [oldest] = this.#idle.values();
      if (oldest === undefined) {
        socket.destroy();
        this.#report('max-sockets', address);
        return;
      }
      this.#forget(oldest);
      oldest.socket.destroy();
      this.#report('evicted-idle', oldest.address);
    }
    const key = keyOf(socket);
    const connection: Connection = {
      key,
      socket,
      address,
      busy: 0,
      session: undefined,
      timer: undefined,
    };
    this.#open.set(key, connection);
    this.#idle.set(key, connection);
    this.#perIp.set(address, fromAddress + 1);
    socket.once('close', () => {
      if (this.#open.get(key) === connection) this.#forget(connection);
    });
  };

  /** Drops a connection from the books (it closed, or is being closed). */
  #forget(connection: Connection): void {
    const { key } = connection;
    if (this.#open.get(key) !== connection) return;
    this.#open.delete(key);
    this.#idle.delete(key);
    if (connection.timer !== undefined) clearTimeout(connection.timer);
    const n = (this.#perIp.get(connection.address) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(connection.address);
    else this.#perIp.set(connection.address, n);
  }

  #busy(connection: Connection): void {
    connection.busy++;
    this.#idle.delete(connection.key);
    if (connection.timer !== undefined) {
      clearTimeout(connection.timer);
      connection.timer = undefined;
    }
  }

  #done(connection: Connection): void {
    connection.busy--;
    if (connection.busy > 0) return;
    const { key } = connection;
    if (this.#open.get(key) !== connection) return;
    // Re-inserted: now the most recently idle.
    this.#idle.delete(key);
    this.#idle.set(key, connection);
    this.#armIdle(connection);
  }

  #onRequest = (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ): void => {
    // HTTP/2 requests are streams of a session, counted there.
    if (req.httpVersionMajor >= 2) return;
    const connection = this.#open.get(keyOf(req.socket));
    if (connection === undefined) return;
    this.#busy(connection);
    res.once('close', () => this.#done(connection));
  };

  #onSession = (session: ServerHttp2Session): void => {
    const connection = this.#open.get(keyOf(session.socket));
    this.#sessions++;
    session.once('close', () => {
      this.#sessions--;
      if (connection?.timer !== undefined) clearTimeout(connection.timer);
    });
    if (connection === undefined) return;
    connection.session = session;
    session.on('stream', (stream: ServerHttp2Stream) => {
      this.#busy(connection);
      stream.once('close', () => this.#done(connection));
    });
    this.#armIdle(connection);
  };

  #armIdle(connection: Connection): void {
    const ms = this.#options.idleTimeoutMs;
    // HTTP/1.1 keep-alive is node's (keepAliveTimeout): only sessions get a timer here.
    if (ms <= 0 || this.#closing || connection.session === undefined) return;
    if (connection.busy > 0 || connection.timer !== undefined) return;
    connection.timer = setTimeout(this.#closeIdle, ms, connection);
    connection.timer.unref();
  }

  #closeIdle = (connection: Connection): void => {
    connection.timer = undefined;
    const session = connection.session;
    if (connection.busy > 0 || session === undefined || session.closed || session.destroyed) {
      return;
    }
    this.#options.onIdleClosed?.();
    // GOAWAY(NO_ERROR): a client may open a new connection; with no stream open, node then
    // destroys the session and its socket at once.
    session.close();
  };

  #report(limit: SocketLimit, address: string): void {
    this.#options.onRefused?.(limit);
    const now = Date.now();
    const entry = this.#refusals.get(limit) ?? { count: 0, loggedAt: 0 };
    entry.count++;
    this.#refusals.set(limit, entry);
    if (now - entry.loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    const { maxSockets, maxSocketsPerIp } = this.#options;
    const details = { limit, closed: entry.count, ip: address };
    if (limit === 'max-sockets-per-ip') {
      this.#options.logger.warn(
        { ...details, bound: maxSocketsPerIp },
        `connections refused: ${address} already holds ${maxSocketsPerIp} (--max-sockets-per-ip)`,
      );
    } else if (limit === 'max-sockets') {
      this.#options.logger.warn(
        { ...details, bound: maxSockets },
        `connections refused: the hub holds ${maxSockets} connections, all busy (--max-sockets)`,
      );
    } else {
      this.#options.logger.warn(
        { ...details, bound: maxSockets },
        `idle connections closed to make room: the hub holds ${maxSockets} connections (--max-sockets)`,
      );
    }
    entry.count = 0;
    entry.loggedAt = now;
  }

  #onServerError = (error: NodeJS.ErrnoException): void => {
    // A failed listen (port in use) is the caller's to report.
    if (error.syscall === 'listen') return;
    this.#options.logger.error(
      { err: error, open: this.#open.size, maxSockets: this.#options.maxSockets },
      error.code === 'EMFILE' || error.code === 'ENFILE'
        ? 'accepting a connection failed: out of file descriptors; lower --max-sockets or raise the open-file limit (ulimit -n)'
        : 'the server reported an error',
    );
  };
}
