import type { AuthResult, Identity } from './auth.js';
import type { ServerContext } from './context.js';
import { HttpError } from './respond.js';

/**
 * The identity of an authentication that succeeded (`undefined` for an allowed anonymous
 * subscriber); for one that failed, counts it in the metrics and throws its HTTP error, with
 * `WWW-Authenticate` when the authenticator gave one.
 *
 * @throws HttpError 401 or 403 with the authenticator's reason
 */
export function requireAuth(
  ctx: ServerContext,
  role: 'publisher' | 'subscriber',
  result: AuthResult,
): Identity | undefined {
  if (result.ok) return result.identity;
  ctx.metrics.authFailure(role, result.status);
  const headers: Record<string, string> =
    result.wwwAuthenticate === undefined ? {} : { 'www-authenticate': result.wwwAuthenticate };
  throw new HttpError(result.status, result.reason, headers);
}
