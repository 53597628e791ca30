import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import {
  createServer as createH2cServer,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
} from 'node:http2';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
} from 'node:net';
import pino, { type Logger } from 'pino';
import { createHub, type Hub } from '../hub/index.js';
import { guardPeerReset } from '../stream/http2-reset.js';
import type { NodeRequest, NodeResponse } from '../stream/index.js';
import { createAuthenticator } from './auth.js';
import { createClientIp, parseTrustedProxies } from './client-ip.js';
import type { ServerConfig } from './config.js';
import { ConnectionGuard } from './connections.js';
import type { ServerContext } from './context.js';
import { Cors } from './cors.js';
import { authorizeDashboard } from './dashboard/access.js';
import { mintDevToken } from './dashboard/dev-token.js';
import { loadDashboardPage } from './dashboard/page.js';
import { SelectorCounts } from './dashboard/selector-counts.js';
import { DashboardFeed, snapshot } from './dashboard/stats.js';
import { createEngine } from './engine-url.js';
import { ConnectionLimiter, RateLimiter, SubscriptionEventLimiter } from './limits.js';
import { HUB_PATH, handleJsonPublish, handlePublish, handleSubscribe } from './mercure.js';
import { Metrics } from './metrics.js';
import { HttpError, sendError, sendJson, sendText } from './respond.js';
import { handleSubscriptionsApi, indexSubscriptions } from './subscriptions.js';
import { TemplateBudget } from './template-limits.js';

/** Options of {@link startServer} that are not configuration. */
export interface StartServerOptions {
  /** Where JSON logs go. Default: a silent logger. */
  logger?: Logger;
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
  if (path === DEV_TOKEN_PATH && ctx.config.dashboard && ctx.config.devPublisherKey) {
    if (method === 'POST') return { name: 'dashboard-token', handler: dashboardToken };
    return { name: 'dashboard-token', handler: methodNotAllowed('POST') };
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

/** Where the dev-mode dashboard page renews its publisher token. */
const DEV_TOKEN_PATH = '/dashboard/token';

/** A fresh short-lived publisher token, in dev mode with a generated key. */
function devToken(ctx: ServerContext): ReturnType<typeof mintDevToken> {
  return mintDevToken(ctx.config.publisherKey!.key, ctx.config.devTokenTtlMs);
}

const pages = new WeakMap<ServerContext, string>();
const dashboard: Handler = async (ctx, req, res) => {
  await authorizeDashboard(ctx, req);
  const page = await loadDashboardPage();
  let html = pages.get(ctx);
  if (ctx.config.devPublisherKey) {
    // A token per page view, short-lived, renewed by the page: never one that lasts.
    const { token, expiresIn } = devToken(ctx);
    html = page.render({
      hubPath: HUB_PATH,
      dev: true,
      publisherToken: token,
      tokenPath: DEV_TOKEN_PATH,
      tokenTtlMs: expiresIn * 1000,
    });
  } else if (html === undefined) {
    html = page.render({ hubPath: HUB_PATH, dev: ctx.config.dev });
    pages.set(ctx, html);
  }
  res.writeHead(200, page.headers);
  res.end(html);
};

const dashboardToken: Handler = async (ctx, req, res) => {
  await authorizeDashboard(ctx, req);
  sendJson(res, 200, devToken(ctx));
};

const dashboardStats: Handler = async (ctx, req, res) => {
  const access = await authorizeDashboard(ctx, req);
  if (ctx.shutdown.aborted) {
    throw new HttpError(503, 'the hub is shutting down; reconnect in a moment', {
      'retry-after': '1',
    });
  }
  const feed = ctx.dashboard!;
  // A viewer is a connection like a subscriber: it counts in --max-connections(-per-ip).
  const release = ctx.connections.acquire(ctx.clientIp(req));
  let expiry: ReturnType<typeof setTimeout> | undefined;
  let stream: ReturnType<DashboardFeed['serve']>;
  try {
    stream = feed.serve(req, res, {
      // Shutdown closes the feed, and with it every viewer (no listener per viewer on the signal).
      headers: ctx.cors.headers(req),
      // A viewer that stops reading skips snapshots, then is closed like a stalled subscriber.
      stallTimeoutMs: ctx.config.stallTimeoutMs,
      onClose: () => {
        release();
        if (expiry !== undefined) clearTimeout(expiry);
      },
    });
  } catch (error) {
    release();
    throw error;
  }
  if (access.expiresAt !== undefined && !stream.closed) {
    // The token stops being valid at `exp`: so does the stream it opened.
    const delay = Math.max(0, Math.min(2_147_483_647, access.expiresAt - Date.now()));
    expiry = setTimeout(() => stream.close(), delay);
    expiry.unref();
  }
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
    if (sub.refused !== undefined) {
      // Answered already (503 while shutting down): worth a line, not an error.
      logger.info({ err: error, status: sub.refused.status }, 'subscribe refused');
      return;
    }
    logger.error({ err: error, subscriber: sub.id }, 'replay failed; subscription closed');
  });
  // This node's live reader fell behind a retention bound: the subscriptions the lost events
  // may concern were closed and resume with Last-Event-ID (and a herald.gap).
  hub.on('gap', (gap, closed) => {
    logger.warn(
      { after: gap.after, before: gap.before, classes: gap.classes ?? 'any', closed },
      'events were evicted before this node delivered them; subscriptions resume from history',
    );
  });
  const connections = new ConnectionLimiter(
    config.limits.maxConnections,
    config.limits.maxConnectionsPerIp,
    config.limits.queueBytesPerIp,
  );
  const shutdown = new AbortController();
  const startedAt = Date.now();
  const stops: (() => void)[] = [];
  let feed: DashboardFeed | undefined;
  if (config.dashboard) {
    const counts = new SelectorCounts();
    stops.push(counts.follow(hub));
    feed = new DashboardFeed((viewers) =>
      snapshot(
        hub,
        counts,
        {
          connections: connections.open,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        },
        viewers,
      ),
    );
  }
  const subscriptionIndex = config.subscriptions ? indexSubscriptions({ hub }) : undefined;
  if (subscriptionIndex !== undefined) stops.push(subscriptionIndex.stop);
  const trustedProxies = parseTrustedProxies(config.trustedProxies);
  const ctx: ServerContext = {
    config,
    hub,
    auth: createAuthenticator(config, {
      jwksMaxBytes: config.jwksMaxBytes,
      jwksTimeoutMs: config.jwksTimeoutMs,
      onJwksFailure: (problem) =>
        logger.warn(
          { jwksUrl: config.jwksUrl, problem },
          `cannot use the JWKS: ${problem}; tokens that need it are refused (401) until it is fixed`,
        ),
    }),
    cors: new Cors(config.corsOrigins),
    clientIp: createClientIp(trustedProxies),
    connections,
    publishRate: new RateLimiter(config.limits.publishRate),
    subscriptionEvents: new SubscriptionEventLimiter(
      config.subscriptions ? config.limits.subscriptionEventsRate : 0,
      config.limits.maxTopics,
    ),
    templates: new TemplateBudget(config.limits),
    metrics: new Metrics(hub, connections),
    logger,
    startedAt,
    shutdown: shutdown.signal,
    dashboard: feed,
    subscriptionIndex: subscriptionIndex?.index,
  };
  ctx.templates.registerMetrics(ctx.metrics.registry);

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

  // Sockets in all and per address, idle sessions; also the sockets and sessions a shutdown
  // ends (HTTP/2 sessions outlive their streams: closing the server does not end them).
  const { limits } = config;
  const guard = new ConnectionGuard({
    maxSockets: limits.maxSockets,
    maxSocketsPerIp: limits.maxSocketsPerIp,
    idleTimeoutMs: limits.idleTimeoutMs,
    trustedProxies,
    logger,
    onRefused: (limit) => ctx.metrics.socketRefused(limit),
    onIdleClosed: () => ctx.metrics.idleSessionClosed(),
  });
  ctx.metrics.watchSockets(guard);
  const { server, loopbackV6 } = await listen(config, handle, (created) => {
    guard.attach(created);
    if (!(created instanceof HttpServer)) {
      // Every route's stream, from its first moment: a peer's reset with NO_ERROR must not
      // leave a stream (and a subscription, a slot) open forever (see stream/http2-reset.ts).
      created.on('stream', guardPeerReset);
    }
  });
  const { port } = server.address() as AddressInfo;
  const host =
    config.host === '' || config.host === '0.0.0.0' || config.host === '::'
      ? 'localhost'
      : config.host;
  const url = `${config.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info(
    {
      url,
      engine: engine.name,
      openFileLimit: limits.fdLimit.measured
        ? limits.fdLimit.limit
        : `${limits.fdLimit.limit} (assumed)`,
      maxSockets: limits.maxSockets,
      maxSocketsPerIp: limits.maxSocketsPerIp,
      maxConnections: limits.maxConnections,
    },
    'herald hub listening',
  );

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      const closed = Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        new Promise<void>((resolve) =>
          loopbackV6 ? loopbackV6.close(() => resolve()) : resolve(),
        ),
      ]);
      shutdown.abort();
      feed?.close();
      await hub.close();
      for (const stop of stops) stop();
      await engine.close();
      ctx.auth.close();
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      guard.closeSessions();
      const timer = setTimeout(() => guard.destroyAll(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      logger.info('herald hub stopped');
    })();
    return closing;
  };

  return { url, hub, server, close };
}

type NodeServer = HttpServer | Http2Server | Http2SecureServer;

/**
 * Creates and starts the node server the configuration asks for. The host `localhost` means
 * both loopback addresses: the server listens on 127.0.0.1, and a second listener on ::1 (same
 * port) hands its connections to the same server — `localhost` resolves to either, depending
 * on the system. Where the machine has no IPv6 loopback, 127.0.0.1 alone serves.
 */
async function listen(
  config: ServerConfig,
  handle: (req: NodeRequest, res: NodeResponse) => void,
  created: (server: NodeServer) => void,
): Promise<{ server: NodeServer; loopbackV6: NetServer | undefined }> {
  if (config.host !== 'localhost') {
    const server = createNodeServer(config, handle);
    created(server);
    await listenOn(server, config.port, config.host === '' ? undefined : config.host);
    return { server, loopbackV6: undefined };
  }
  // With port 0 the IPv4 listener picks the port; if it is taken on ::1, pick again.
  for (let attempt = 1; ; attempt++) {
    const server = createNodeServer(config, handle);
    created(server);
    await listenOn(server, config.port, '127.0.0.1');
    const { port } = server.address() as AddressInfo;
    const loopbackV6 = createNetServer({ noDelay: true }, (socket) =>
      server.emit('connection', socket),
    );
    try {
      await listenOn(loopbackV6, port, '::1');
      return { server, loopbackV6 };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // No IPv6 on this machine: 127.0.0.1 is all there is to localhost.
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') {
        return { server, loopbackV6: undefined };
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (code !== 'EADDRINUSE' || config.port !== 0 || attempt >= 5) throw error;
    }
  }
}

function listenOn(server: NodeServer | NetServer, port: number, host: string | undefined) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function createNodeServer(
  config: ServerConfig,
  handle: (req: NodeRequest, res: NodeResponse) => void,
): NodeServer {
  let server: NodeServer;
  const { headersTimeoutMs, requestTimeoutMs } = config.limits;
  // node:http enforces the request timeouts on a periodic sweep (30 s by default): sweep often
  // enough that a timeout is not overshot by more than a quarter.
  const timeouts = [headersTimeoutMs, requestTimeoutMs].filter((ms) => ms > 0);
  const sweepMs =
    timeouts.length > 0 ? Math.min(30_000, Math.max(250, Math.min(...timeouts) / 4)) : undefined;
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
    // Its HTTP/1.1 fallback is node:http's server logic, reading these from the server: the
    // same slowloris protection as without TLS (node's own defaults are 60 s and 300 s).
    const fallback = server as Http2SecureServer & {
      headersTimeout: number;
      requestTimeout: number;
      connectionsCheckingInterval: number;
    };
    fallback.headersTimeout = headersTimeoutMs;
    fallback.requestTimeout = requestTimeoutMs;
    if (sweepMs !== undefined) fallback.connectionsCheckingInterval = sweepMs;
  } else if (config.h2c) {
    server = createH2cServer(handle);
  } else {
    // Slowloris protection: the headers, and the whole request (headers and body), must arrive
    // in time, or node:http answers 408 and closes the connection. The timeouts are about the
    // request only: once a GET's headers are in, its event stream may last for days.
    server = createHttpServer(
      {
        noDelay: true,
        headersTimeout: headersTimeoutMs,
        requestTimeout: requestTimeoutMs,
        ...(sweepMs !== undefined && { connectionsCheckingInterval: sweepMs }),
      },
      handle,
    );
  }
  return server;
}
