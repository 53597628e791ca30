// Helpers for the `herald serve` integration tests: a hub server started from command-line
// flags (as `herald serve` would be) on a free port with silent logs, JWTs made with jose,
// publishing with a form body over fetch, and plain HTTP requests that keep every header.
import assert from 'node:assert/strict';
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import { SignJWT } from 'jose';
import { type HeraldServer, startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { withTimeout } from './async.js';
import { type OpenedStream, openStream } from './sse.js';

/** The HMAC secret every test hub is started with (`--jwt-key`), unless told otherwise. */
export const SECRET = 'herald-test-secret-that-is-long-enough-for-hs256';
/** The hub's subscribe / publish path. */
export const HUB = '/.well-known/mercure';

/**
 * Starts a hub from `herald serve` flags on 127.0.0.1 and a free port, silent, with
 * `--jwt-key SECRET` unless `key: false`. The flags go through the real `loadConfig`.
 */
export async function startHub(
  flags: readonly string[] = [],
  options: { key?: boolean } = {},
): Promise<HeraldServer & { devToken: string | undefined }> {
  const argv = [
    '--addr',
    '127.0.0.1:0',
    '--log-level',
    'silent',
    ...(options.key === false ? [] : ['--jwt-key', SECRET]),
    ...flags,
  ];
  const { config, devToken } = loadConfig({ argv, env: {} });
  const server = await startServer(config);
  return Object.assign(server, { devToken });
}

/** The `mercure` claim of a test token. */
export interface MercureClaims {
  publish?: string[];
  subscribe?: string[];
  payload?: unknown;
}

/** Options of {@link makeToken}. */
export interface TokenOptions {
  /** `exp` in seconds since the epoch; default: none. */
  exp?: number;
  /** Signing secret; default {@link SECRET}. */
  secret?: string;
  /** HMAC algorithm; default HS256. */
  alg?: 'HS256' | 'HS384' | 'HS512';
  /** Leave the `mercure` claim out entirely. */
  noMercureClaim?: boolean;
}

/** Signs an HMAC JWT with a `mercure` claim. */
export function makeToken(mercure: MercureClaims, options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT(options.noMercureClaim ? {} : { mercure })
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setIssuedAt();
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** A publisher token for `selectors` (default: every topic). */
export function publisherToken(selectors: string[] = ['*']): Promise<string> {
  return makeToken({ publish: selectors });
}

/** A subscriber token whose private updates are those of `selectors`. */
export function subscriberToken(selectors: string[]): Promise<string> {
  return makeToken({ subscribe: selectors });
}

/** An unsigned token (`alg: none`), as an attacker would forge it. */
export function unsignedToken(mercure: MercureClaims): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ mercure })}.`;
}

/** The fields of a Mercure form publish; `topic` may repeat, `private: true` adds the field. */
export interface PublishFields {
  topic: string | string[];
  data?: string;
  id?: string;
  type?: string;
  retry?: string;
  private?: boolean;
}

/** The form body of a publish, as `URLSearchParams` (what PHP's / Python's clients send). */
export function formOf(fields: PublishFields): URLSearchParams {
  const form = new URLSearchParams();
  for (const topic of typeof fields.topic === 'string' ? [fields.topic] : fields.topic) {
    form.append('topic', topic);
  }
  if (fields.data !== undefined) form.set('data', fields.data);
  if (fields.id !== undefined) form.set('id', fields.id);
  if (fields.type !== undefined) form.set('type', fields.type);
  if (fields.retry !== undefined) form.set('retry', fields.retry);
  if (fields.private === true) form.set('private', 'on');
  return form;
}

/** POSTs a form publish with fetch; `token` goes in the Authorization header. */
export function publish(
  base: string,
  fields: PublishFields,
  token: string | undefined,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}${HUB}`, {
    method: 'POST',
    headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` },
    body: formOf(fields),
  });
}

/** Publishes and returns the event id, failing the test with the hub's reason on an error. */
export async function publishOk(
  base: string,
  fields: PublishFields,
  token: string,
): Promise<string> {
  const res = await publish(base, fields, token);
  const body = await res.text();
  assert.equal(res.status, 200, `publish answered ${res.status}: ${body}`);
  return body;
}

/** The subscribe URL of `topics`, with extra query parameters. */
export function subscribeUrl(
  base: string,
  topics: readonly string[],
  query: Record<string, string> = {},
): string {
  const params = new URLSearchParams();
  for (const topic of topics) params.append('topic', topic);
  for (const [name, value] of Object.entries(query)) params.append(name, value);
  return `${base}${HUB}?${params}`;
}

/**
 * Subscribes over HTTP/1.1 and resolves once the response headers arrived — by then the hub
 * has registered the subscription, so what is published next reaches it.
 */
export async function subscribe(
  base: string,
  topics: readonly string[],
  options: { token?: string; headers?: OutgoingHttpHeaders; query?: Record<string, string> } = {},
): Promise<OpenedStream> {
  const headers: OutgoingHttpHeaders = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const opened = await openStream(subscribeUrl(base, topics, options.query), headers);
  if (opened.res.statusCode !== 200) {
    await opened.reader.end();
    assert.fail(`subscribe answered ${opened.res.statusCode}: ${opened.reader.text}`);
  }
  return opened;
}

/** A complete HTTP/1.1 response. */
export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP/1.1 request with node:http on a fresh connection: unlike fetch, every header (Origin,
 * Cookie…) is sent as given and every response header is kept.
 */
export function http(
  url: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<HttpResult> {
  return withTimeout(
    new Promise<HttpResult>((resolve, reject) => {
      const req = httpRequest(
        url,
        { method: options.method ?? 'GET', headers: options.headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(options.body);
    }),
    `${options.method ?? 'GET'} ${url}`,
  );
}

/**
 * Asserts an error answer: its status, a plain-text body that is a non-empty reason, and that
 * the reason says `words`.
 */
export function assertError(
  result: { status: number; body: string; contentType: string | undefined },
  status: number,
  words: RegExp,
): void {
  assert.equal(result.status, status, `expected ${status}, got ${result.status}: ${result.body}`);
  assert.match(result.contentType ?? '', /^text\/plain/);
  assert.ok(
    result.body.trim().length > 10,
    `a reason in the body, got ${JSON.stringify(result.body)}`,
  );
  assert.match(result.body, words);
}

/** {@link assertError} for a fetch `Response` (reads its body); returns the body. */
export async function assertErrorResponse(
  res: Response,
  status: number,
  words: RegExp,
): Promise<string> {
  const body = await res.text();
  assertError(
    { status: res.status, body, contentType: res.headers.get('content-type') ?? undefined },
    status,
    words,
  );
  return body;
}

/** {@link assertError} for an {@link HttpResult}. */
export function assertErrorResult(result: HttpResult, status: number, words: RegExp): void {
  const type = result.headers['content-type'];
  assertError({ status: result.status, body: result.body, contentType: type }, status, words);
}

/** Ids of parsed events, in order. */
export function idsOf(events: readonly { id?: string | undefined }[]): string[] {
  return events.map((e) => e.id ?? '');
}

/**
 * Resolves once the async `check` holds, trying again every few milliseconds: for state only a
 * request can read (a metrics sample). Rejects after the safety-net timeout.
 */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
