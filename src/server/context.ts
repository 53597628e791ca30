import type { Logger } from 'pino';
import type { Hub } from '../hub/index.js';
import type { NodeRequest } from '../stream/index.js';
import type { Authenticator } from './auth.js';
import type { ServerConfig } from './config.js';
import type { Cors } from './cors.js';
import type { DashboardFeed } from './dashboard/stats.js';
import type { ConnectionLimiter, RateLimiter, SubscriptionEventLimiter } from './limits.js';
import type { Metrics } from './metrics.js';
import type { SubscriptionIndex } from './subscription-index.js';
import type { TemplateBudget } from './template-limits.js';

/** Everything a request handler of the hub server needs, built once at startup by `app.ts`. */
export interface ServerContext {
  /** The configuration, with defaults applied. */
  readonly config: ServerConfig;
  /** The hub events flow through. */
  readonly hub: Hub;
  /** Verifies publisher and subscriber tokens. */
  readonly auth: Authenticator;
  /** CORS headers and preflights. */
  readonly cors: Cors;
  /**
   * The client's IP address of a request, for per-IP limits and logs: the socket's, or the one
   * a trusted proxy's `X-Forwarded-For` names (`--trusted-proxies`, see `client-ip.ts`).
   */
  readonly clientIp: (req: NodeRequest) => string;
  /** Subscriber connection limits. */
  readonly connections: ConnectionLimiter;
  /** Publish rate limit per publisher. */
  readonly publishRate: RateLimiter;
  /** Subscription events (`--subscriptions`) per client address, charged as a subscription opens. */
  readonly subscriptionEvents: SubscriptionEventLimiter;
  /** URI-template cost held by open subscriptions, per client address and in all. */
  readonly templates: TemplateBudget;
  /** Prometheus metrics. */
  readonly metrics: Metrics;
  /** JSON logs. */
  readonly logger: Logger;
  /** When the server started, in ms since the epoch. */
  readonly startedAt: number;
  /** Aborts when the server begins to shut down: long-lived responses outside the hub end. */
  readonly shutdown: AbortSignal;
  /** The dashboard's shared `stats` feed; `undefined` when the dashboard is off. */
  readonly dashboard: DashboardFeed | undefined;
  /** The subscriptions API's index; `undefined` without `--subscriptions`. */
  readonly subscriptionIndex: SubscriptionIndex | undefined;
}
