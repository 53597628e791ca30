import { isWellFormed } from '../engines/engine.js';
import { EARLIEST, HeraldEngineError } from '../engines/index.js';
import { HeraldHubError, matchesAny, type PublishInput, type Subscription } from '../hub/index.js';
import { EVENT_STREAM_CONTENT_TYPE, type NodeRequest, type NodeResponse } from '../stream/index.js';
import type { Identity } from './auth.js';
import type { ServerContext } from './context.js';
import { requireAuth } from './require-auth.js';
import { HttpError, readBody } from './respond.js';
import { publishSubscriptionEvents } from './subscriptions.js';
import { chargeTemplates, checkRequestCost } from './template-limits.js';

/** The hub's well-known path (Mercure: "the hub MUST be reachable at /.well-known/mercure"). */
export const HUB_PATH = '/.well-known/mercure';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const CONTROL = /[\0-\x1f\x7f]/;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * `GET|HEAD /.well-known/mercure?topic=…`: subscribes the request to one or more topic
 * selectors. Errors are thrown as {@link HttpError} before anything is written.
 *
 * With `--subscriptions`, the subscription events it will cause (one per selector as it opens,
 * one as it closes) are charged to the client's address first (`--subscription-events-rate`):
 * a subscription refused for them costs little and publishes nothing, and a subscription
 * refused for any other reason gives them back.
 */
export async function handleSubscribe(
  ctx: ServerContext,
  req: NodeRequest,
  res: NodeResponse,
): Promise<void> {
  const query = new URL(req.url ?? '/', 'http://hub').searchParams;
  const topics = readTopics(ctx, query);
  const ip = ctx.clientIp(req);
  if (!ctx.config.subscriptions || req.method === 'HEAD') {
    await subscribe(ctx, req, res, query, topics, ip, { owed: false });
    return;
  }
  const refund = ctx.subscriptionEvents.charge(ip, topics.length);
  const charge = { owed: false };
  try {
    await subscribe(ctx, req, res, query, topics, ip, charge);
  } catch (error) {
    if (!charge.owed) refund();
    throw error;
  }
}

/** The topic selectors of a subscribe request, checked against `--max-topics`. */
function readTopics(ctx: ServerContext, query: URLSearchParams): string[] {
  // Mercure: "The subscriber subscribes to a URL exposed by a hub, using the topic query
  // parameter […] at least once"; the parameter can be repeated.
  const topics = query.getAll('topic');
  if (topics.length === 0) {
    throw new HttpError(
      400,
      'missing "topic" query parameter: subscribe with ?topic=<topic or URI template>, repeated for several topics',
    );
  }
  const { maxTopics } = ctx.config.limits;
  if (topics.length > maxTopics) {
    throw new HttpError(
      400,
      `too many topic selectors: ${topics.length}, the limit is ${maxTopics} (--max-topics); subscribe to a URI template instead`,
    );
  }
  if (topics.includes('')) throw new HttpError(400, 'a "topic" query parameter is empty');
  return topics;
}

/**
 * The rest of {@link handleSubscribe}. `charge.owed` becomes true once the subscription
 * exists: its subscription events are then published, and their charge is spent.
 */
async function subscribe(
  ctx: ServerContext,
  req: NodeRequest,
  res: NodeResponse,
  query: URLSearchParams,
  topics: string[],
  ip: string,
  charge: { owed: boolean },
): Promise<void> {
  // What the templates would cost, from their text alone: refused before anything is compiled.
  const charges = chargeTemplates(topics, 'topic', ctx.config.limits);
  // As the hub reads it: a non-empty Last-Event-ID header, else the lastEventID parameter (an
  // empty header must not let a bad parameter through unchecked).
  const header = req.headers['last-event-id'];
  const lastEventId =
    header === undefined || header === '' ? (query.get('lastEventID') ?? '') : header;
  if (typeof lastEventId !== 'string' || CONTROL.test(lastEventId)) {
    throw new HttpError(400, 'Last-Event-ID / lastEventID must not contain control characters');
  }

  const identity = requireAuth(ctx, 'subscriber', await ctx.auth.subscriber(req));
  if (ctx.shutdown.aborted) {
    throw new HttpError(503, 'the hub is shutting down; reconnect in a moment', {
      'retry-after': '1',
    });
  }
  const health = ctx.hub.engine.health();
  if (!health.ready) {
    // A node whose engine is not ready cannot promise gap-free delivery: send the client to
    // another node, or back here in a moment.
    throw new HttpError(
      503,
      `the hub is not ready (${health.reason ?? 'engine unavailable'}); retry in a moment`,
      { 'retry-after': '1' },
    );
  }
  if (identity?.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
    // Accepted within the clock tolerance, but the stream would close at once and the client
    // reconnect in a loop: refuse it plainly instead.
    ctx.metrics.authFailure('subscriber', 401);
    throw new HttpError(
      401,
      `the token expired at ${new Date(identity.expiresAt).toISOString()}; get a fresh token`,
      { 'www-authenticate': 'Bearer realm="herald", error="invalid_token"' },
    );
  }
  // The token's mercure.subscribe selectors are compiled for this subscription too.
  const claimed = identity?.claim.subscribe;
  if (claimed !== undefined)
    charges.push(...chargeTemplates(claimed, 'mercure.subscribe', ctx.config.limits));
  checkRequestCost(charges, 'this subscription (topics and mercure.subscribe)', ctx.config.limits);
  const releaseConnection = ctx.connections.acquire(ip);
  const cors = ctx.cors.headers(req);

  if (req.method === 'HEAD') {
    releaseConnection();
    res.writeHead(200, { ...cors, 'content-type': EVENT_STREAM_CONTENT_TYPE });
    res.end();
    return;
  }
  let releaseTemplates: () => void;
  try {
    releaseTemplates = ctx.templates.acquire(ip, charges);
  } catch (error) {
    releaseConnection();
    throw error;
  }
  const release = (): void => {
    releaseTemplates();
    releaseConnection();
  };

  let expiry: ReturnType<typeof setTimeout> | undefined;
  const transport = req.httpVersionMajor === 2 ? 'h2' : 'h1';
  let sub: Subscription;
  try {
    sub = ctx.hub.subscribe(req, res, {
      topics,
      authorized: identity?.claim.subscribe,
      // Every stream of this address shares one byte budget (--queue-bytes-per-ip).
      stream: { headers: cors, budget: ctx.connections.budgetOf(ip) },
      onClose: () => {
        release();
        // Refused (the hub closed while the token was verified): answered 503, never opened.
        if (sub.refused !== undefined) return;
        // Its closing events are published below: the charge is spent.
        charge.owed = true;
        ctx.metrics.streamClosed(transport);
        // The stream records why it closed before it ends the subscription; none yet (closed
        // before the replay opened it) is the hub's doing.
        const reason = sub.stream?.closeReason ?? 'server';
        ctx.metrics.streamClosedFor(reason);
        if (expiry !== undefined) clearTimeout(expiry);
        if (reason === 'stalled') {
          ctx.logger.info(
            { subscriber: sub.id, ip, reason, stallTimeoutMs: ctx.config.stallTimeoutMs },
            'subscriber stream closed: its socket did not drain for --stall-timeout (the client stopped reading)',
          );
        } else if (reason === 'budget') {
          ctx.logger.info(
            { subscriber: sub.id, ip, reason, queueBytesPerIp: ctx.config.limits.queueBytesPerIp },
            "subscriber stream closed: its address's streams together held --queue-bytes-per-ip while their clients were behind; the client resumes from history",
          );
        }
        ctx.logger.debug({ subscriber: sub.id, topics, reason }, 'unsubscribe');
        if (ctx.config.subscriptions) publishSubscriptionEvents(ctx, sub, identity, false);
      },
    });
  } catch (error) {
    // The response had already started (nothing the hub could answer).
    release();
    throw error;
  }
  // Refused (answered 503 by the hub): no subscription events, so the charge is refunded.
  if (sub.refused !== undefined) return;
  charge.owed = true;
  // The address the limit counted, computed once above: the log line costs no second lookup.
  ctx.logger.debug({ subscriber: sub.id, topics, lastEventId, ip }, 'subscribe');
  ctx.metrics.streamOpened(transport);
  if (sub.lastEventId !== '') ctx.metrics.replay();
  if (identity?.expiresAt !== undefined) {
    // The token stops being valid at `exp`: so does the subscription it opened.
    const delay = Math.max(0, Math.min(MAX_TIMER_MS, identity.expiresAt - Date.now()));
    expiry = setTimeout(() => sub.close(), delay);
    expiry.unref();
  }
  if (ctx.config.subscriptions) publishSubscriptionEvents(ctx, sub, identity, true);
}

/** Raw fields of one update, as a form or a JSON body gives them. */
interface RawUpdate {
  topics: unknown;
  data: unknown;
  id: unknown;
  type: unknown;
  retry: unknown;
  private: unknown;
}

/** Turns raw fields into a hub publish, or throws a 400 naming the field (or the limit). */
function parseUpdate(raw: RawUpdate, where: string, maxTopics: number): PublishInput {
  const bad = (message: string): never => {
    throw new HttpError(400, `${where}${message}`);
  };
  const topics = typeof raw.topics === 'string' ? [raw.topics] : raw.topics;
  if (!Array.isArray(topics) || topics.length === 0) {
    bad('missing "topic": an update needs at least one topic');
  }
  // Counted before anything else is looked at: each topic costs a lookup on every publish.
  if ((topics as unknown[]).length > maxTopics) {
    bad(
      `too many topics in one update: ${(topics as unknown[]).length}, the limit is ${maxTopics} (--max-update-topics); publish several updates instead`,
    );
  }
  for (const topic of topics as unknown[]) {
    if (typeof topic !== 'string' || topic === '') bad('every "topic" must be a non-empty string');
    // Only JSON can carry one (a form decodes bytes as UTF-8): a topic no subscriber could spell.
    if (!isWellFormed(topic as string))
      bad('every "topic" must be well-formed Unicode (a lone surrogate)');
  }
  const input: PublishInput = { topics: topics as string[], data: raw.data ?? '' };
  if (raw.id !== undefined && raw.id !== null) {
    const id = raw.id;
    if (typeof id !== 'string' || id === '') bad('"id" must be a non-empty string');
    if (CONTROL.test(id as string))
      bad('"id" must not contain CR, LF, NUL or other control characters');
    // A lone surrogate goes out as U+FFFD: a client resuming with the id it saw would get a gap
    // and the whole history again.
    if (!isWellFormed(id as string))
      bad(
        '"id" must be well-formed Unicode (it has a lone surrogate, which clients would see as U+FFFD)',
      );
    // Mercure: "id: the topic's revision identifier […] it MUST NOT start with the # character".
    if ((id as string).startsWith('#')) bad('"id" must not start with "#" (Mercure reserves it)');
    input.id = id as string;
  }
  if (raw.type !== undefined && raw.type !== null) {
    if (typeof raw.type !== 'string' || CONTROL.test(raw.type)) {
      bad('"type" must be a string without CR, LF, NUL or other control characters');
    }
    if (!isWellFormed(raw.type as string)) {
      bad(
        '"type" must be well-formed Unicode (it has a lone surrogate, which clients would see as U+FFFD)',
      );
    }
    if (raw.type !== '') input.type = raw.type as string;
  }
  if (raw.retry !== undefined && raw.retry !== null) {
    const retry = typeof raw.retry === 'string' ? Number(raw.retry) : raw.retry;
    const digits = typeof raw.retry !== 'string' || /^[0-9]+$/.test(raw.retry);
    if (!digits || typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
      bad(
        `"retry" must be a non-negative integer of milliseconds (got ${JSON.stringify(raw.retry)})`,
      );
    }
    input.retry = retry as number;
  }
  if (raw.private !== undefined && raw.private !== null && raw.private !== false) {
    input.private = true;
  }
  return input;
}

/** The path of a topic IRI (`/books/1` of `https://example.com/books/1`); a non-URL as is. */
function pathOf(topic: string): string {
  try {
    return new URL(topic, 'http://hub').pathname;
  } catch {
    return topic; // not a URL (`http://[`): an opaque topic string
  }
}

/**
 * The path of a topic as written, before URL parsing resolves `..`, `%2e%2e` and the like: what
 * a subscriber's selector is matched against, character for character.
 */
function rawPathOf(topic: string): string {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(topic);
  const path = authority === null ? topic : topic.slice(authority[0].length);
  return path.split(/[?#]/, 1)[0]!;
}

/**
 * Whether a topic falls under the hub's own path, however it is spelled: as written (a selector
 * like `/.well-known/mercure/subscriptions{/topic}{/subscriber}` matches
 * `/.well-known/mercure/subscriptions/../..` literally) or once resolved as a URL.
 */
function isReserved(topic: string): boolean {
  return rawPathOf(topic).startsWith(HUB_PATH) || pathOf(topic).startsWith(HUB_PATH);
}

/** Checks the publisher may dispatch `update`, per Mercure's rules. */
function authorizePublish(identity: Identity | undefined, update: PublishInput): void {
  const topics = update.topics as readonly string[];
  for (const topic of topics) {
    if (isReserved(topic)) {
      throw new HttpError(
        403,
        `topic ${JSON.stringify(topic)} is inside ${HUB_PATH}, which the hub reserves for its own subscription events`,
      );
    }
  }
  const allowed = identity?.claim.publish;
  // Mercure: "If mercure.publish is not defined, then the publisher MUST NOT be authorized to
  // dispatch any update. Otherwise, the hub MUST check that every topics of the update to
  // dispatch matches at least one of the topic selectors contained in mercure.publish."
  if (allowed === undefined) {
    throw new HttpError(403, 'the token has no mercure.publish claim: it may not publish');
  }
  for (const topic of topics) {
    if (!matchesAny(allowed, [topic])) {
      throw new HttpError(
        403,
        `the token's mercure.publish selectors do not allow topic ${JSON.stringify(topic)}`,
      );
    }
  }
}

/** Publishes through the hub, mapping engine and hub errors to HTTP statuses. */
async function publish(ctx: ServerContext, update: PublishInput): Promise<string> {
  try {
    const { id } = await ctx.hub.publish(update);
    ctx.logger.debug({ id, topics: update.topics, private: update.private === true }, 'publish');
    return id;
  } catch (error) {
    if (error instanceof HeraldEngineError) {
      const status =
        error.code === 'DUPLICATE_ID'
          ? 409
          : error.code === 'EVENT_TOO_LARGE'
            ? 413
            : error.code === 'INVALID_EVENT'
              ? 400
              : 503;
      throw new HttpError(status, error.message);
    }
    if (error instanceof HeraldHubError) {
      if (error.code === 'EVENT_TOO_LARGE') {
        // An event no subscriber queue could hold would cut off subscribers that were reading.
        throw new HttpError(413, `${error.message} (--queue-bytes ${ctx.config.queueBytes})`);
      }
      throw new HttpError(error.code === 'CLOSED' ? 503 : 400, error.message);
    }
    throw error;
  }
}

/**
 * The id checks of the engine, made before an array is published, so that an array is refused
 * as a whole instead of half-published: ids the engine reserves, ids used twice in the array,
 * ids of events still in history.
 */
async function checkIds(ctx: ServerContext, updates: readonly PublishInput[]): Promise<void> {
  const seen = new Set<string>();
  for (const [i, update] of updates.entries()) {
    const id = update.id;
    if (id === undefined) continue;
    if (id === EARLIEST) {
      throw new HttpError(
        400,
        `update #${i}: "${EARLIEST}" cannot be an event id: clients send it to ask for all history`,
      );
    }
    let retained = false;
    if (!seen.has(id)) {
      try {
        retained = (await ctx.hub.engine.resolve(id)) !== undefined;
      } catch (error) {
        if (error instanceof HeraldEngineError) throw new HttpError(503, error.message);
        throw error;
      }
    }
    if (seen.has(id) || retained) {
      throw new HttpError(
        409,
        `update #${i}: an event with id ${JSON.stringify(id)} is ${seen.has(id) ? 'earlier in this array' : 'still in history'}; ids identify one event for replay, so use a new id (or omit it to get a generated one)`,
      );
    }
    seen.add(id);
  }
}

/** Fields a form may have besides its topics (Mercure's five, and room for a few unknown). */
const FORM_FIELDS_BESIDES_TOPICS = 16;

/**
 * The fields of an `application/x-www-form-urlencoded` body (its `&`-separated sequences, empty
 * ones included), counted up to `stopAfter + 1` at most.
 */
function countFormFields(body: string, stopAfter: number): number {
  let n = 1;
  for (let i = body.indexOf('&'); i !== -1 && n <= stopAfter; i = body.indexOf('&', i + 1)) n++;
  return n;
}

function requireContentType(req: NodeRequest, expected: string, hint: string): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== expected) {
    throw new HttpError(415, `unsupported Content-Type ${JSON.stringify(type)}: ${hint}`);
  }
}

/** Authenticates a publisher and spends one token of its rate limit. */
async function publisherOf(ctx: ServerContext, req: NodeRequest): Promise<Identity | undefined> {
  const identity = requireAuth(ctx, 'publisher', await ctx.auth.publisher(req));
  // Keyed by who the token speaks for, not by its spelling (identity-key.ts). Publishing always
  // needs a token (requireAuth refused the request otherwise); the address keys the bucket only
  // should a publisher ever be let in without one.
  ctx.publishRate.take(identity?.key ?? ctx.clientIp(req));
  const allowed = identity?.claim.publish;
  if (allowed !== undefined) {
    // Its templates are compiled to check the topics: bounded like a subscription's.
    const { limits } = ctx.config;
    const charges = chargeTemplates(allowed, 'mercure.publish', limits);
    checkRequestCost(charges, "the token's mercure.publish", limits);
  }
  return identity;
}

/**
 * `POST /.well-known/mercure` with an `application/x-www-form-urlencoded` body: publishes one
 * update and answers `200 text/plain` with its id.
 */
export async function handlePublish(
  ctx: ServerContext,
  req: NodeRequest,
  res: NodeResponse,
): Promise<void> {
  requireContentType(
    req,
    'application/x-www-form-urlencoded',
    'publish with an application/x-www-form-urlencoded form (topic, data, id, type, retry, private), or POST JSON to /publish',
  );
  const identity = await publisherOf(ctx, req);
  const body = (
    await readBody(req, ctx.config.limits.maxBodyBytes, ctx.config.limits.requestTimeoutMs)
  ).toString();
  // Parsing costs per field (95,000 one-character topics: ~30× the time of one 1 MB field), so
  // the fields are counted first; an update needs its topics and a few others.
  const { maxUpdateTopics } = ctx.config.limits;
  const fields = countFormFields(body, maxUpdateTopics + FORM_FIELDS_BESIDES_TOPICS);
  if (fields > maxUpdateTopics + FORM_FIELDS_BESIDES_TOPICS) {
    throw new HttpError(
      400,
      `too many form fields: more than ${maxUpdateTopics + FORM_FIELDS_BESIDES_TOPICS}; an update has at most ${maxUpdateTopics} topics (--max-update-topics) besides data, id, type, retry and private`,
    );
  }
  const form = new URLSearchParams(body);
  const update = parseUpdate(
    {
      topics: form.getAll('topic'),
      data: form.get('data') ?? undefined,
      id: form.get('id') ?? undefined,
      type: form.get('type') ?? undefined,
      retry: form.get('retry') ?? undefined,
      // Mercure: "private: if this field is set, the update MUST be private" — any value.
      private: form.has('private') ? true : undefined,
    },
    '',
    ctx.config.limits.maxUpdateTopics,
  );
  authorizePublish(identity, update);
  const id = await publish(ctx, update);
  ctx.metrics.published();
  res.writeHead(200, { ...ctx.cors.headers(req), 'content-type': 'text/plain; charset=utf-8' });
  res.end(id);
}

/**
 * `POST /publish` with `application/json`: one update (`{ topic | topics, data, id, type, retry,
 * private }`, where a non-string `data` is sent as JSON) or an array of them, authorized like
 * the form endpoint. Answers `{ "id": … }` or `{ "ids": [ … ] }`. Every update of an array is
 * checked before any is published.
 */
export async function handleJsonPublish(
  ctx: ServerContext,
  req: NodeRequest,
  res: NodeResponse,
): Promise<void> {
  requireContentType(req, 'application/json', 'POST a JSON update or an array of updates');
  const identity = await publisherOf(ctx, req);
  const body = await readBody(
    req,
    ctx.config.limits.maxBodyBytes,
    ctx.config.limits.requestTimeoutMs,
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString());
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
  const many = Array.isArray(parsed);
  const items: unknown[] = many ? (parsed as unknown[]) : [parsed];
  if (items.length === 0) throw new HttpError(400, 'the array of updates is empty');
  if (items.length > ctx.config.limits.maxTopics) {
    throw new HttpError(
      400,
      `too many updates in one request (limit ${ctx.config.limits.maxTopics})`,
    );
  }
  if (many) {
    // The topics of all the updates count together: an array must not carry what one update
    // may not (1000 updates of 100 topics cost as much as one of 100,000).
    let topics = 0;
    for (const item of items) {
      const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const t = o.topics ?? o.topic;
      topics += Array.isArray(t) ? t.length : 1;
    }
    if (topics > ctx.config.limits.maxTopics) {
      throw new HttpError(
        400,
        `too many topics in one request: ${topics} in all, the limit is ${ctx.config.limits.maxTopics} (--max-topics); send fewer updates per request`,
      );
    }
  }
  const updates = items.map((item, i) => {
    const where = many ? `update #${i}: ` : '';
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new HttpError(400, `${where}an update must be a JSON object`);
    }
    const o = item as Record<string, unknown>;
    if (o.private !== undefined && typeof o.private !== 'boolean') {
      throw new HttpError(400, `${where}"private" must be true or false`);
    }
    const update = parseUpdate(
      {
        topics: o.topics ?? o.topic,
        data: o.data,
        id: o.id,
        type: o.type,
        retry: o.retry,
        private: o.private,
      },
      where,
      ctx.config.limits.maxUpdateTopics,
    );
    authorizePublish(identity, update);
    return update;
  });
  if (many) {
    await checkIds(ctx, updates);
    // Sizes too, so that an array is refused whole rather than half-published.
    for (const [i, update] of updates.entries()) {
      try {
        ctx.hub.checkSize(update);
      } catch (error) {
        if (error instanceof HeraldHubError && error.code === 'EVENT_TOO_LARGE') {
          throw new HttpError(
            413,
            `update #${i}: ${error.message} (--queue-bytes ${ctx.config.queueBytes})`,
          );
        }
        throw error;
      }
    }
  }
  const ids: string[] = [];
  for (const [i, update] of updates.entries()) {
    try {
      ids.push(await publish(ctx, update));
    } catch (error) {
      // Checked above, but the engine can still refuse (another publisher took the id a
      // moment ago, the engine went away): say truthfully what was published.
      if (!(error instanceof HttpError) || ids.length === 0) throw error;
      throw new HttpError(
        error.status,
        `update #${i}: ${error.message}; updates #0–#${i - 1} were published (ids ${JSON.stringify(ids)}), the rest were not`,
        error.headers,
      );
    }
    ctx.metrics.published();
  }
  res.writeHead(200, {
    ...ctx.cors.headers(req),
    'content-type': 'application/json; charset=utf-8',
  });
  res.end(`${JSON.stringify(many ? { ids } : { id: ids[0] })}\n`);
}
