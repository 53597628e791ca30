/**
 * Who may open the dashboard (`/`, `/dashboard/stats`, `/dashboard/token`).
 *
 * - Dev mode without `--dashboard-credentials`: anyone who reaches it. Dev mode listens on
 *   localhost unless an address is given; on a loopback address the dashboard also answers
 *   only requests addressed to a loopback name, so that a web page whose host name was
 *   re-pointed at 127.0.0.1 (DNS rebinding) cannot read the token the page carries.
 * - Otherwise: HTTP Basic with `--dashboard-credentials`, or a JWT verified with the subscriber
 *   key (or the JWKS) that carries the claim `{"herald": {"dashboard": true}}`, from the usual
 *   token sources (`Authorization: Bearer`, `?authorization=`, the `mercureAuthorization`
 *   cookie). No token or wrong credentials: 401; a valid token without the claim: 403.
 * @packageDocumentation
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopback } from '../config.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../respond.js';

/** The claim that opens the dashboard, as a token's payload carries it. */
export const DASHBOARD_CLAIM = '{"herald":{"dashboard":true}}';

/** What a dashboard request was let in with. */
export interface DashboardAccess {
  /** How: dev mode (open), Basic credentials, or a token with the dashboard claim. */
  via: 'dev' | 'credentials' | 'token';
  /** When the token expires, in ms since the epoch (a stream ends then); absent otherwise. */
  expiresAt?: number;
}

/** The parts of a request access control reads. */
interface AccessRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

const BASIC = /^\s*Basic(?:\s+([A-Za-z0-9+/=]*))?\s*$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The host name of a `Host` / `:authority` value, lower case, without port or brackets. */
function hostName(authority: string): string {
  const value = authority.trim().toLowerCase();
  if (value.startsWith('['))
    return value.slice(1, value.indexOf(']') < 0 ? undefined : value.indexOf(']'));
  const colon = value.indexOf(':');
  return colon < 0 ? value : value.slice(0, colon);
}

/**
 * Whether a request's `Host` names this machine's loopback (`localhost`, `*.localhost`,
 * 127.0.0.0/8, `::1`); a request without one (HTTP/1.0 tools) passes.
 */
export function addressedToLoopback(req: AccessRequest): boolean {
  const raw = req.headers.host ?? req.headers[':authority'];
  const authority = Array.isArray(raw) ? raw[0] : raw;
  if (authority === undefined || authority === '') return true;
  // A fully qualified name may end with a dot ("localhost.").
  const name = hostName(authority).replace(/\.$/, '');
  // RFC 6761 §6.3: "localhost." names resolve to the loopback address.
  return name === 'localhost' || name.endsWith('.localhost') || isLoopback(name);
}

/**
 * Decides whether `req` may open the dashboard.
 *
 * @returns how it was let in
 * @throws HttpError 401 (no or bad credentials or token; with `WWW-Authenticate`), 403 (a valid
 *   token without the dashboard claim; a dev-mode request addressed to another host name)
 */
export async function authorizeDashboard(
  ctx: ServerContext,
  req: AccessRequest,
): Promise<DashboardAccess> {
  const { config } = ctx;
  const credentials = config.dashboardCredentials;
  if (config.dev && credentials === undefined) {
    if (isLoopback(config.host) && !addressedToLoopback(req)) {
      throw new HttpError(
        403,
        'dev mode serves its dashboard to requests addressed to localhost only (this one names another host: a page re-pointing its name at 127.0.0.1 could read the publisher token); open http://localhost:<port>/, or give --addr to listen elsewhere',
      );
    }
    return { via: 'dev' };
  }
  const challenges = [
    'Bearer realm="herald"',
    ...(credentials === undefined ? [] : ['Basic realm="herald dashboard", charset="UTF-8"']),
  ];
  const header = req.headers.authorization;
  const authorization = Array.isArray(header) ? header[0] : header;
  const basic = authorization === undefined ? null : BASIC.exec(authorization);
  if (basic !== null && credentials !== undefined) {
    const given = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
    // Compare digests: constant time, whatever the lengths.
    if (timingSafeEqual(digest(given), digest(credentials))) return { via: 'credentials' };
    ctx.metrics.authFailure('subscriber', 401);
    throw new HttpError(
      401,
      'wrong dashboard user or password (--dashboard-credentials); try again',
      { 'www-authenticate': challenges.join(', ') },
    );
  }
  const result = await ctx.auth.dashboard(req);
  if (!result.ok) {
    ctx.metrics.authFailure('subscriber', result.status);
    const reason =
      credentials === undefined
        ? result.reason
        : `${result.reason} (or sign in with the dashboard's user and password, --dashboard-credentials)`;
    throw new HttpError(
      result.status,
      reason,
      result.status === 401 ? { 'www-authenticate': challenges.join(', ') } : {},
    );
  }
  const identity = result.identity;
  if (identity?.herald.dashboard !== true) {
    ctx.metrics.authFailure('subscriber', 403);
    throw new HttpError(
      403,
      `this token may not open the dashboard: it needs the claim ${DASHBOARD_CLAIM} (beside its "mercure" claim)`,
    );
  }
  if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
    ctx.metrics.authFailure('subscriber', 401);
    throw new HttpError(
      401,
      `the token expired at ${new Date(identity.expiresAt).toISOString()}; get a fresh token`,
      { 'www-authenticate': 'Bearer realm="herald", error="invalid_token"' },
    );
  }
  return identity.expiresAt === undefined
    ? { via: 'token' }
    : { via: 'token', expiresAt: identity.expiresAt };
}
