import { createHash } from 'node:crypto';
import type { Subscription } from '../hub/index.js';
import type { NodeRequest, NodeResponse } from '../stream/index.js';
import type { Identity } from './auth.js';
import type { ServerContext } from './context.js';
import { requireAuth } from './require-auth.js';
import { HttpError } from './respond.js';
import {
  SUBSCRIPTIONS_BASE as BASE,
  SubscriptionIndex,
  subscriberIri,
  subscriptionResourceId,
} from './subscription-index.js';
import { chargeTemplates, checkRequestCost } from './template-limits.js';

/**
 * The selector of every subscription event's topic: with `--subscriptions`, the retention class
 * that keeps them apart, so that subscribers coming and going cannot evict other topics'
 * history (see `engine-url.ts`).
 */
export const SUBSCRIPTION_TOPICS = '/.well-known/mercure/subscriptions/{+rest}';

/** Mercure's JSON-LD context for subscription resources. */
const CONTEXT = 'https://mercure.rocks/';

/** One subscription resource: one selector of one subscriber (Mercure "Subscription"). */
interface SubscriptionResource {
  '@context'?: string;
  id: string;
  type: 'Subscription';
  subscriber: string;
  topic: string;
  active: boolean;
  payload?: unknown;
}

const payloads = new WeakMap<Subscription, unknown>();

/** The resource of one selector of `sub`; `id` already computed when given. */
function resource(
  sub: Subscription,
  topic: string,
  active: boolean,
  id?: string,
): SubscriptionResource {
  const subscriber = subscriberIri(sub);
  const payload = payloads.get(sub);
  return {
    // Mercure: "the hub MUST publish an update … when a subscription is created or
    // terminated", topic /.well-known/mercure/subscriptions/{topic}/{subscriber}, both parts
    // URL-encoded.
    id: id ?? subscriptionResourceId(topic, subscriber),
    type: 'Subscription',
    subscriber,
    topic,
    active,
    ...(payload === undefined ? {} : { payload }),
  };
}

/**
 * The subscription events of `sub`, one per selector: each resource's id (its event's topic)
 * and its JSON-LD, written out as `JSON.stringify({ '@context': CONTEXT, ...resource(…) })`
 * writes it (same keys, same order, same escapes). What is the same for every selector — the
 * context, the subscriber, the claim's payload — is encoded once, not once per selector.
 */
function encodeEvents(sub: Subscription, active: boolean): { id: string; data: string }[] {
  const subscriber = subscriberIri(sub);
  const payload = payloads.get(sub);
  const payloadJson = payload === undefined ? undefined : JSON.stringify(payload);
  const tail = `,"type":"Subscription","subscriber":${JSON.stringify(subscriber)},"topic":`;
  const end = `,"active":${active}${payloadJson === undefined ? '' : `,"payload":${payloadJson}`}}`;
  const head = `{"@context":${JSON.stringify(CONTEXT)},"id":`;
  return sub.topics.map((topic) => {
    const id = subscriptionResourceId(topic, subscriber);
    return { id, data: `${head}${JSON.stringify(id)}${tail}${JSON.stringify(topic)}${end}` };
  });
}

/**
 * The index the subscriptions API reads, following `ctx.hub` from now on; one per hub.
 * @returns the index and a function that stops following
 */
export function indexSubscriptions(ctx: Pick<ServerContext, 'hub'>): {
  index: SubscriptionIndex;
  stop: () => void;
} {
  const index = new SubscriptionIndex();
  return { index, stop: index.follow(ctx.hub) };
}

/** Subscription events published in one turn of the event loop (then the loop gets a turn). */
const PUBLISH_SLICE = 64;

/** Per subscription, its events still being handed to the hub (so that `inactive` follows). */
const publishing = new WeakMap<Subscription, Promise<void>>();

/**
 * Publishes the private subscription events of `sub` (one per selector): `active: true` on
 * connect, `active: false` on disconnect. A subscriber with 1,000 selectors makes 1,000 events:
 * they are handed to the hub 64 at a time, the next 64 once the engine stored these, so that one
 * connection neither blocks the loop nor floods a shared engine; a subscription's inactive
 * events follow its active ones. Their number is bounded per client address by
 * `--subscription-events-rate`, charged before the subscription opens (`mercure.ts`). Failures
 * are logged, never thrown: presence must not break a subscription.
 */
export function publishSubscriptionEvents(
  ctx: ServerContext,
  sub: Subscription,
  identity: Identity | undefined,
  active: boolean,
): void {
  if (active && identity?.claim.payload !== undefined) payloads.set(sub, identity.claim.payload);
  const events = encodeEvents(sub, active);
  const subscriber = subscriberIri(sub);
  const previous = publishing.get(sub);
  const done =
    previous === undefined
      ? publishAll(ctx, subscriber, events)
      : previous.then(() => publishAll(ctx, subscriber, events));
  publishing.set(sub, done);
}

async function publishAll(
  ctx: ServerContext,
  subscriber: string,
  events: readonly { id: string; data: string }[],
): Promise<void> {
  const lost = (error: unknown): void => {
    ctx.logger.warn({ err: error, subscriber }, 'subscription event lost');
  };
  for (let i = 0; i < events.length; i += PUBLISH_SLICE) {
    const slice: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(events.length, i + PUBLISH_SLICE); j++) {
      const event = events[j]!;
      // The JSON-LD as a string: the hub sends a string's data as it is.
      slice.push(
        ctx.hub.publish({ topics: event.id, data: event.data, private: true }).catch(lost),
      );
    }
    // The next slice once the engine took this one: a shared engine's answers (and its live
    // reader's batches) then come 64 events at a time, not 1,000 in one turn of the loop.
    await Promise.all(slice);
    if (i + PUBLISH_SLICE < events.length) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/**
 * `GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]`: the active subscriptions
 * as JSON-LD (Mercure's subscriptions API), filtered to what the caller's `mercure.subscribe`
 * selectors allow; `ETag` / `If-None-Match` supported. The resources are listed in id order,
 * and found through the index (`ctx.subscriptionIndex`): a request costs what its claim may
 * see, and a claim that can match no subscription resource costs a comparison per selector.
 */
export async function handleSubscriptionsApi(
  ctx: ServerContext,
  req: NodeRequest,
  res: NodeResponse,
): Promise<void> {
  const identity = requireAuth(ctx, 'subscriber', await ctx.auth.subscriber(req));
  if (identity === undefined) {
    // Mercure: the subscriptions API needs a JWT (anonymous subscribers may not list others).
    ctx.metrics.authFailure('subscriber', 401);
    throw new HttpError(
      401,
      `the subscriptions API needs a subscriber JWT whose mercure.subscribe selectors match ${BASE}/…`,
      { 'www-authenticate': 'Bearer realm="herald"' },
    );
  }
  const path = new URL(req.url ?? '/', 'http://hub').pathname;
  const parts = path
    .slice(BASE.length)
    .split('/')
    .filter((p) => p !== '');
  if (parts.length > 2) throw new HttpError(404, `no such subscriptions resource: ${path}`);
  let topic: string | undefined;
  let subscriber: string | undefined;
  try {
    [topic, subscriber] = parts.map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(
      400,
      `${path} is not valid percent-encoding: encode the topic and subscriber with encodeURIComponent`,
    );
  }
  const allowed = identity?.claim.subscribe ?? [];
  const index = ctx.subscriptionIndex;
  if (index === undefined) throw new Error('the subscriptions API runs without its index');
  // The claim's templates are compiled to filter the resources: bounded like a subscription's.
  const limits = ctx.config.limits;
  checkRequestCost(chargeTemplates(allowed, 'mercure.subscribe', limits), 'the token', limits);

  // Mercure: the subscriptions API is reachable only with a subscribe claim that matches the
  // subscription resources' URLs.
  const items = index
    .visible(allowed, {
      ...(topic !== undefined && { topic }),
      ...(subscriber !== undefined && { subscriber }),
    })
    .map((match) => resource(match.subscription, match.topic, true, match.id));

  // The cursor to subscribe from: never the id of a private update the caller may not see.
  const lastEventID = ctx.hub.lastEventIdFor(identity?.claim.subscribe) || 'earliest';
  let body: unknown;
  if (subscriber !== undefined) {
    if (items.length === 0) throw new HttpError(404, `no active subscription at ${path}`);
    body = { '@context': CONTEXT, ...items[0], lastEventID };
  } else {
    body = {
      '@context': CONTEXT,
      id: path,
      type: 'Subscriptions',
      lastEventID,
      subscriptions: items,
    };
  }
  const text = `${JSON.stringify(body)}\n`;
  const etag = `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;
  const headers = {
    ...ctx.cors.headers(req),
    etag,
    'cache-control': 'no-cache',
    'content-type': 'application/ld+json; charset=utf-8',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, headers);
  res.end(text);
}
