import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import {
  createServer as createH2cServer,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { createHub, type Hub } from '../hub/index.js';
import type { NodeRequest, NodeResponse } from '../stream/index.js';
import { createAuthenticator } from './auth.js';
import { createClientIp, parseTrustedProxies } from './client-ip.js';
import type { ServerConfig } from './config.js';
import type { ServerContext } from './context.js';
import { Cors } from './cors.js';
import { DASHBOARD_PAGE_HEADERS, renderDashboardPage } from './dashboard/page.js';
import { serveDashboardStats } from './dashboard/stats.js';
import { createEngine } from './engine-url.js';
import { ConnectionLimiter, RateLimiter } from './limits.js';
import { HUB_PATH, handleJsonPublish, handlePublish, handleSubscribe } from './mercure.js';
import { Metrics } from './metrics.js';
import { HttpError, sendError, sendText } from './respond.js';
import { handleSubscriptionsApi, indexSubscriptions } from './subscriptions.js';

/** Options of {@link startServer} that are not configuration. */
export interface StartServerOptions {
  /** Where JSON logs go. Default: a silent logger. */
  logger?: Logger;
  /** Dev mode's generated publisher token, shown to the dashboard's publish form. */
  publisherToken?: string;
}

/** A running hub server. */
export interface HeraldServer {
  /** The base URL, e.g. `http://localhost:8080` (the real port when configured with 0). */
  readonly url: string;
  /** The hub behind the HTTP API, for embedding apps and tests. */
  readonly hub: Hub;
  /** The node server. */
  readonly server: HttpServer | Http2Server | Http2SecureServer;
  /**
   * Graceful shutdown: stop accepting, send every stream a `retry` hint and end it, flush, close
   * the engine; connections still open after `graceMs` (default: the configured grace) are cut.
   */
  close(graceMs?: number): Promise<void>;
}

type Handler = (ctx: ServerContext, req: NodeRequest, res: NodeResponse) => Promise<void> | void;

/** The route a request takes, named for logs and metrics. */
function route(
  ctx: ServerContext,
  method: string,
  path: string,
): { name: string; handler: Handler } | undefined {
  if (method === 'OPTIONS') return { name: 'preflight', handler: preflight };
  if (path === HUB_PATH) {
    if (method === 'GET' || method === 'HEAD')
      return { name: 'subscribe', handler: handleSubscribe };
    if (method === 'POST') return { name: 'publish', handler: handlePublish };
    return { name: 'hub', handler: methodNotAllowed('GET, HEAD, POST') };
  }
  if (path === '/publish') {
    if (method === 'POST') return { name: 'publish-json', handler: handleJsonPublish };
    return { name: 'publish-json', handler: methodNotAllowed('POST') };
  }
  if (path === `${HUB_PATH}/subscriptions` || path.startsWith(`${HUB_PATH}/subscriptions/`)) {
    if (!ctx.config.subscriptions) return undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      return { name: 'subscriptions', handler: methodNotAllowed('GET, HEAD') };
    }
    return { name: 'subscriptions', handler: handleSubscriptionsApi };
  }
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  switch (path) {
    case '/healthz':
      return { name: 'healthz', handler: (_c, _q, res) => sendText(res, 200, 'ok') };
    case '/readyz':
      return { name: 'readyz', handler: readyz };
    case '/metrics':
      return { name: 'metrics', handler: metrics };
    case '/':
      return ctx.config.dashboard ? { name: 'dashboard', handler: dashboard } : undefined;
    case '/dashboard/stats':
      return ctx.config.dashboard
        ? { name: 'dashboard-stats', handler: dashboardStats }
        : undefined;
    default:
      return undefined;
  }
}

function methodNotAllowed(allow: string): Handler {
  return (_ctx, req, res) =>
    sendText(res, 405, `method ${req.method} is not allowed here; use ${allow}`, { allow });
}

const preflight: Handler = (ctx, req, res) => {
  res.writeHead(204, ctx.cors.preflight(req));
  res.end();
};

const readyz: Handler = (ctx, _req, res) => {
  const health = ctx.hub.engine.health();
  if (health.ready) sendText(res, 200, 'ready');
  else sendText(res, 503, `not ready: ${health.reason ?? 'the engine is unavailable'}`);
};

const metrics: Handler = async (ctx, _req, res) => {
  const { contentType, body } = await ctx.metrics.render();
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
};

const pages = new WeakMap<ServerContext, string>();
const dashboard: Handler = (ctx, _req, res) => {
  let html = pages.get(ctx);
  if (html === undefined) {
    html = renderDashboardPage({ publisherToken: ctx.publisherToken, hubPath: HUB_PATH });
    pages.set(ctx, html);
  }
  res.writeHead(200, DASHBOARD_PAGE_HEADERS);
  res.end(html);
};

const dashboardStats: Handler = (ctx, req, res) => {
  serveDashboardStats(
    req,
    res,
    ctx.hub,
    () => ({
      connections: ctx.connections.open,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
    }),
    { signal: ctx.shutdown },
  );
};

/**
 * Starts the hub server: the Mercure protocol at `/.well-known/mercure`, JSON publishing at
 * `/publish`, health at `/healthz` and `/readyz`, Prometheus metrics at `/metrics`, and (when
 * enabled) the dashboard at `/`.
 *
 * Every request is answered: a handler error becomes a 500 for that request only, logged with
 * its stack; errors users cause get the right 4xx and a reason.
 *
 * @throws when the configuration cannot be served (bad TLS files, unknown engine, port in use)
 */
export async function startServer(
  config: ServerConfig,
  options: StartServerOptions = {},
): Promise<HeraldServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const engine = await createEngine(config);
  const hub = createHub({
    engine,
    heartbeatMs: config.heartbeatMs,
    queueBytes: config.queueBytes,
    stallTimeoutMs: config.stallTimeoutMs,
    // Room for the whole history encoded and its data: replays share every retained event's
    // encoding (engines other than memory hand each reader a copy).
    replayCacheBytes: Math.max(1, Math.min(2 * config.historyBytes, 256 * 1024 * 1024)),
    maxEventTopics: config.limits.maxUpdateTopics,
  });
  // An engine failure during one subscriber's replay ends that subscription (its client
  // reconnects); the server logs it instead of letting it surface as an uncaught exception.
  hub.on('error', (error, sub) => {
    logger.error({ err: error, subscriber: sub.id }, 'replay failed; subscription closed');
  });
  const connections = new ConnectionLimiter(
    config.limits.maxConnections,
    config.limits.maxConnectionsPerIp,
  );
  const shutdown = new AbortController();
  const subscriptionIndex = config.subscriptions ? indexSubscriptions({ hub }) : undefined;
  const ctx: ServerContext = {
    config,
    hub,
    auth: createAuthenticator(config),
    cors: new Cors(config.corsOrigins),
    clientIp: createClientIp(parseTrustedProxies(config.trustedProxies)),
    connections,
    publishRate: new RateLimiter(config.limits.publishRate),
    metrics: new Metrics(hub, connections),
    logger,
    startedAt: Date.now(),
    shutdown: shutdown.signal,
    publisherToken: options.publisherToken,
    subscriptionIndex: subscriptionIndex?.index,
  };

  const handle = (req: NodeRequest, res: NodeResponse): void => {
    const method = req.method ?? 'GET';
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://hub').pathname;
    } catch {
      sendText(res, 400, 'the request target is not a valid URL path');
      return;
    }
    const found = route(ctx, method, path);
    if (found === undefined) {
      sendText(
        res,
        404,
        `nothing at ${method} ${path}: subscribe with GET ${HUB_PATH}?topic=…, publish with POST ${HUB_PATH}`,
      );
      return;
    }
    const fail = (error: unknown): void => {
      if (error instanceof HttpError) {
        ctx.metrics.httpError(found.name, error.status);
        sendError(res, error, ctx.cors.headers(req));
        return;
      }
      ctx.metrics.httpError(found.name, 500);
      logger.error({ err: error, method, path }, 'request failed');
      if (res.headersSent) res.destroy();
      else
        sendText(
          res,
          500,
          'internal error while handling this request; the hub logged the details',
        );
    };
    try {
      const result = found.handler(ctx, req, res);
      if (result instanceof Promise) result.catch(fail);
    } catch (error) {
      fail(error);
    }
  };

  const server = await listen(config, handle);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // HTTP/2 sessions outlive their streams: closing the server does not end them, so shutdown
  // closes them itself (a GOAWAY; streams still open finish first).
  const sessions = new Set<ServerHttp2Session>();
  if (!(server instanceof HttpServer)) {
    server.on('session', (session: ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
  }
  const { port } = server.address() as AddressInfo;
  const host =
    config.host === '' || config.host === '0.0.0.0' || config.host === '::'
      ? 'localhost'
      : config.host;
  const url = `${config.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, engine: engine.name }, 'herald hub listening');

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdown.abort();
      await hub.close();
      subscriptionIndex?.stop();
      await engine.close();
      ctx.auth.close();
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      for (const session of sessions) session.close();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      logger.info('herald hub stopped');
    })();
    return closing;
  };

  return { url, hub, server, close };
}

/** Creates and starts the node server the configuration asks for. */
async function listen(
  config: ServerConfig,
  handle: (req: NodeRequest, res: NodeResponse) => void,
): Promise<HttpServer | Http2Server | Http2SecureServer> {
  let server: HttpServer | Http2Server | Http2SecureServer;
  const { headersTimeoutMs, requestTimeoutMs } = config.limits;
  if (config.tls !== undefined) {
    server = createSecureServer(
      {
        cert: readFileSync(config.tls.cert),
        key: readFileSync(config.tls.key),
        allowHTTP1: true,
        // A client that opens a connection and stalls the handshake holds a socket: bound it.
        ...(headersTimeoutMs > 0 && { handshakeTimeout: headersTimeoutMs }),
      },
      handle,
    );
  } else if (config.h2c) {
    server = createH2cServer(handle);
  } else {
    // Slowloris protection: the headers, and the whole request (headers and body), must arrive
    // in time, or node:http answers 408 and closes the connection. The timeouts are about the
    // request only: once a GET's headers are in, its event stream may last for days.
    const timeouts = [headersTimeoutMs, requestTimeoutMs].filter((ms) => ms > 0);
    server = createHttpServer(
      {
        noDelay: true,
        headersTimeout: headersTimeoutMs,
        requestTimeout: requestTimeoutMs,
        // node:http enforces both on a periodic sweep (30 s by default): sweep often enough
        // that a timeout is not overshot by more than a quarter.
        ...(timeouts.length > 0 && {
          connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.min(...timeouts) / 4)),
        }),
      },
      handle,
    );
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host === '' ? undefined : config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
