// The client side of the WPT-style EventSource suite: behaviours of the HTML standard's
// EventSource (§9.2, "Server-sent events") — requests, statuses, MIME types, redirects,
// reconnection, the last event ID, readyState and event order — written as cases that run
// unchanged against any EventSource constructor: Herald's in Node, Herald's bundle in a
// Chromium page, and Chromium's own. Each case logs what it observes; the test compares the log
// (and the requests the server saw, see client-wpt-server.ts) with the expectation.
//
// This module is bundled for the browser as is: no Node APIs, no imports but types.

/** The URLs of one run of one case. */
export interface CaseUrls {
  /** `http://127.0.0.1:<port>/wpt/<run>/<case>`: same origin as the page. */
  base: string;
  /** The same case on a second server (another port): a different origin. */
  other: string;
  /** A URL on a port nothing listens on. */
  dead: string;
  /** `base`'s origin. */
  origin: string;
  /** `other`'s origin. */
  otherOrigin: string;
}

/** What a case's client part gets. */
export interface CaseContext extends CaseUrls {
  /** The EventSource under test. */
  EventSource: typeof EventSource;
  /** What the case observed so far. */
  readonly entries: string[];
  /** Records an observation. */
  log(entry: string): void;
  /** Resolves once `check(entries)` holds (checked after every `log`). */
  until(check: (entries: string[]) => boolean): Promise<void>;
  /** Resolves after `ms` (to let something that must NOT happen have its chance). */
  wait(ms: number): Promise<void>;
}

/** One case of the suite. */
export interface WptCase {
  /** Unique, also the server's route. */
  name: string;
  /** The rule of the standard the case checks, in short. */
  rule: string;
  /** The client part; resolves when done. */
  run(ctx: CaseContext): Promise<void>;
  /** The expected log. */
  expect: string[];
  /**
   * The expected requests, as the server records them (`METHOD /path`, plus ` lei=<value>` when
   * a Last-Event-ID header came), when the case checks them.
   */
  requests?: string[];
  /**
   * CORS preflights (`OPTIONS /path`) Herald's client makes in a browser. A script's fetch()
   * needs one when it sends a header outside the CORS safelist (Last-Event-ID) cross-origin;
   * the browser's own EventSource never does (its request has no unsafe-request flag). Compared
   * apart from `requests`, which holds the other requests; every other target must make none.
   */
  heraldBrowserPreflights?: string[];
  /** The case needs a page (it calls window.stop()): it does not run in Node. */
  browserOnly?: boolean;
  /**
   * Where Herald's client, a script built on fetch(), cannot do what the standard asks of the
   * browser's own EventSource: what it does instead, and why — in a page, and in Node.
   */
  heraldLimitation?: { browser?: Deviation; node?: Deviation };
  /** Milliseconds the case may take (default {@link CASE_TIMEOUT_MS}). */
  timeoutMs?: number;
  /**
   * Where Chromium deviates from the standard, what it does instead: `platform` applies to
   * both Chromium targets (a deviation of the browser's URL parser, say), `native` only to
   * Chromium's own EventSource.
   */
  chromium?: { platform?: Deviation; native?: Deviation };
}

/** What a target does instead of what the standard says, and why. */
export interface Deviation {
  /** What happens, and which rule of the standard it breaks. */
  why: string;
  /** The log Chromium produces (default: the standard's). */
  expect?: string[];
  /** The requests Chromium makes (default: the standard's). */
  requests?: string[];
}

/** Milliseconds a case may take before it is cut short (its log then ends with `TIMEOUT`). */
export const CASE_TIMEOUT_MS = 2500;

/** How long a case waits to see that something (a reconnection, an event) does not happen. */
const SETTLE_MS = 150;

/** Runs one case against `EventSourceClass` and resolves with its log. */
export async function runCase(
  wptCase: WptCase,
  EventSourceClass: typeof EventSource,
  urls: CaseUrls,
): Promise<string[]> {
  const entries: string[] = [];
  const waiters: Array<{ check: (entries: string[]) => boolean; resolve: () => void }> = [];
  const ctx: CaseContext = {
    ...urls,
    EventSource: EventSourceClass,
    entries,
    log(entry) {
      entries.push(entry);
      for (const waiter of [...waiters]) {
        if (waiter.check(entries)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    },
    until(check) {
      if (check(entries)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ check, resolve }));
    },
    wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), wptCase.timeoutMs ?? CASE_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([wptCase.run(ctx), timeout]);
    if (outcome === 'timeout') entries.push('TIMEOUT');
  } catch (error) {
    entries.push(`THREW ${String(error)}`);
  } finally {
    clearTimeout(timer);
  }
  return [...entries];
}

// ---- helpers of the client parts ----

type Source = InstanceType<typeof EventSource>;

/** Logs open / message / error (and the given named events) with readyState and ids. */
function watch(ctx: CaseContext, es: Source, named: string[] = []): void {
  es.onopen = () => ctx.log(`open ${es.readyState}`);
  es.onmessage = (e) => ctx.log(`message ${JSON.stringify(e.data)} lid=${e.lastEventId}`);
  es.onerror = () => ctx.log(`error ${es.readyState}`);
  for (const type of named) {
    es.addEventListener(type, (e) => {
      const m = e as MessageEvent;
      ctx.log(`${type} ${JSON.stringify(m.data)} lid=${m.lastEventId}`);
    });
  }
}

/** How many log entries start with `prefix`. */
function count(entries: string[], prefix: string): number {
  return entries.filter((entry) => entry.startsWith(prefix)).length;
}

/** Resolves once `n` entries start with `prefix`. */
function seen(ctx: CaseContext, prefix: string, n = 1): Promise<void> {
  return ctx.until((entries) => count(entries, prefix) >= n);
}

/** `origin` as a token that does not depend on ports. */
function originToken(ctx: CaseContext, origin: string): string {
  if (origin === ctx.origin) return 'same';
  if (origin === ctx.otherOrigin) return 'other';
  return `unexpected:${origin}`;
}

/**
 * Opens a stream whose connections end at once, and logs for each reconnection whether it came
 * within a second of the error (`fast`: the 20 ms the first stream set) or not (`slow`: a 3 s
 * default). Only this 150-fold gap is judged, never a precise duration.
 */
async function reconnectPace(ctx: CaseContext, connections: number): Promise<void> {
  const es = new ctx.EventSource(`${ctx.base}/stream`);
  let erroredAt = 0;
  es.onopen = () => {
    if (erroredAt !== 0) ctx.log(Date.now() - erroredAt < 1000 ? 'fast' : 'slow');
    ctx.log(`open ${es.readyState}`);
  };
  es.onerror = () => {
    erroredAt = Date.now();
    ctx.log(`error ${es.readyState}`);
  };
  await seen(ctx, 'open', connections);
  es.close();
}

/** A case whose stream is opened at `path`, run until `done` entries arrived, then closed. */
function simple(
  name: string,
  rule: string,
  expect: string[],
  options: { path?: string; named?: string[]; requests?: string[] } = {},
): WptCase {
  return {
    name,
    rule,
    expect,
    requests: options.requests,
    async run(ctx) {
      const es = new ctx.EventSource(ctx.base + (options.path ?? '/stream'));
      watch(ctx, es, options.named);
      // Done when everything expected arrived, or the connection failed for good.
      await ctx.until((entries) => entries.length >= expect.length || entries.includes('error 2'));
      es.close();
    },
  };
}

// ---- the cases ----

/** Content types that open the stream (the body sends `data: é` as UTF-8). */
export const GOOD_TYPES = [
  'text/event-stream',
  'text/event-stream; charset=utf-8',
  'TEXT/EVENT-STREAM',
  'Text/Event-Stream;Charset=UTF-8',
  'text/event-stream;',
  'text/event-stream; charset=iso-8859-1',
  'text/event-stream;foo=bar;baz',
];

/** Content types that fail the connection (`''`: no Content-Type header). */
export const BAD_TYPES = [
  'text/plain',
  'text/html',
  'text/event-streams',
  'application/event-stream',
  'text/x-event-stream',
  '',
];

/** Statuses other than 200 that fail the connection (after a first, successful stream). */
export const BAD_STATUSES = [
  201, 202, 204, 205, 210, 299, 300, 400, 401, 403, 404, 410, 500, 502, 503, 504,
];

/** `retry:` values that are not only ASCII digits (the leading space is the one stripped). */
export const BOGUS_RETRIES: Array<[slug: string, value: string]> = [
  ['digits-then-letters', ' 9000abc'],
  ['exponent', ' 9e3'],
  ['decimal', ' 9000.5'],
  ['second-space', '  9000'],
  ['negative', ' -1'],
  ['plus', ' +9000'],
  ['empty', ''],
];

/** Redirect statuses that are followed. */
export const REDIRECTS = [301, 302, 303, 307, 308];

/** Slug of a content type for a case name. */
export function typeSlug(type: string): string {
  return type === '' ? 'none' : type.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

/** The reconnect-then-refuse pattern: a first stream ends (retry: 20), the second is refused. */
function refusedAfterReconnect(name: string, rule: string): WptCase {
  return {
    name,
    rule,
    expect: ['open 1', 'message "first" lid=', 'error 0', 'error 2', 'settled 2'],
    requests: ['GET /stream', 'GET /stream'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      es.addEventListener('message', (e) => {
        if ((e as MessageEvent).data !== 'first') ctx.log('UNEXPECTED second stream delivered');
      });
      await seen(ctx, 'error 2');
      // No reconnection may follow (the first stream set the reconnection time to 20 ms).
      await ctx.wait(SETTLE_MS);
      ctx.log(`settled ${es.readyState}`);
      es.close();
    },
  };
}

/** Every case, in the order they run. */
export const cases: WptCase[] = [
  {
    name: 'interface',
    rule: 'the IDL: constants, attributes, defaults, constructor arguments',
    expect: [
      'static 0 1 2',
      'prototype 0 1 2',
      'instance 0 1 2',
      'constant writable=false enumerable=true configurable=false',
      'length 1',
      'tag [object EventSource]',
      'eventtarget true',
      'readyState 0',
      'url true',
      'withCredentials false',
      'handlers null null null',
      'own accessors false false',
      'closed 2',
      'withCredentials true',
      'no arguments TypeError',
      'no new TypeError',
    ],
    async run(ctx) {
      const ES = ctx.EventSource;
      const es = new ES(`${ctx.base}/stream`);
      ctx.log(`static ${ES.CONNECTING} ${ES.OPEN} ${ES.CLOSED}`);
      ctx.log(`prototype ${ES.prototype.CONNECTING} ${ES.prototype.OPEN} ${ES.prototype.CLOSED}`);
      ctx.log(`instance ${es.CONNECTING} ${es.OPEN} ${es.CLOSED}`);
      const d = Object.getOwnPropertyDescriptor(ES, 'OPEN');
      ctx.log(
        `constant writable=${d?.writable} enumerable=${d?.enumerable} configurable=${d?.configurable}`,
      );
      ctx.log(`length ${ES.length}`);
      ctx.log(`tag ${Object.prototype.toString.call(es)}`);
      ctx.log(`eventtarget ${es instanceof EventTarget}`);
      ctx.log(`readyState ${es.readyState}`);
      ctx.log(`url ${es.url === `${ctx.base}/stream`}`);
      ctx.log(`withCredentials ${es.withCredentials}`);
      ctx.log(`handlers ${es.onopen} ${es.onmessage} ${es.onerror}`);
      const own = (key: string): boolean => Object.hasOwn(es, key);
      ctx.log(`own accessors ${own('readyState')} ${own('onmessage')}`);
      es.close();
      ctx.log(`closed ${es.readyState}`);
      const credentialed = new ES(`${ctx.base}/stream`, { withCredentials: true });
      ctx.log(`withCredentials ${credentialed.withCredentials}`);
      credentialed.close();
      const Loose = ES as unknown as new (...args: unknown[]) => Source;
      try {
        new Loose();
        ctx.log('no arguments: constructed');
      } catch (error) {
        ctx.log(`no arguments ${(error as Error).name}`);
      }
      try {
        (ES as unknown as (url: string) => Source)(`${ctx.base}/stream`);
        ctx.log('no new: constructed');
      } catch (error) {
        ctx.log(`no new ${(error as Error).name}`);
      }
    },
  },
  {
    name: 'url-bogus',
    rule: 'a URL that does not parse throws a "SyntaxError" DOMException',
    expect: ['http://[ SyntaxError true', 'http://a b/ SyntaxError true'],
    chromium: {
      platform: {
        why: "Chromium's URL parser accepts a space in a host (it percent-encodes it as http://a%20b/), where the URL Standard makes U+0020 a forbidden host code point and parsing fail; so its EventSource (and any URL-based one in that browser) constructs instead of throwing",
        expect: ['http://[ SyntaxError true', 'http://a b/ constructed'],
      },
    },
    async run(ctx) {
      for (const url of ['http://[', 'http://a b/']) {
        try {
          new ctx.EventSource(url).close();
          ctx.log(`${url} constructed`);
        } catch (error) {
          ctx.log(`${url} ${(error as Error).name} ${error instanceof DOMException}`);
        }
      }
    },
  },
  {
    name: 'url-serialized',
    rule: 'url is the parsed URL, serialized (dot segments resolved, fragment kept); a URL object is stringified',
    expect: ['url true', 'open 1', 'url true', 'open 1'],
    requests: ['GET /stream?x=%41', 'GET /stream'],
    async run(ctx) {
      const first = new ctx.EventSource(`${ctx.base}/a/../stream?x=%41#frag`);
      ctx.log(`url ${first.url === `${ctx.base}/stream?x=%41#frag`}`);
      first.onopen = () => ctx.log(`open ${first.readyState}`);
      await seen(ctx, 'open');
      first.close();
      const second = new ctx.EventSource(new URL(`${ctx.base}/stream`) as unknown as string);
      ctx.log(`url ${second.url === `${ctx.base}/stream`}`);
      second.onopen = () => ctx.log(`open ${second.readyState}`);
      await seen(ctx, 'open', 2);
      second.close();
    },
  },
  {
    name: 'non-http-schemes',
    rule: 'a URL fetch cannot stream from fails the connection: a plain error Event, CLOSED',
    expect: [
      'ftp: error 2 plain',
      'about: error 2 plain',
      'mailto: error 2 plain',
      'javascript: error 2 plain',
    ],
    async run(ctx) {
      for (const url of [
        'ftp://127.0.0.1/x',
        'about:blank',
        'mailto:a@example.invalid',
        'javascript:void 0',
      ]) {
        const es = new ctx.EventSource(url);
        const scheme = url.slice(0, url.indexOf(':') + 1);
        es.onopen = () => ctx.log(`${scheme} open`);
        es.onerror = (e) => {
          const plain = !(e instanceof MessageEvent) && !('data' in e);
          ctx.log(`${scheme} error ${es.readyState} ${plain ? 'plain' : 'MessageEvent'}`);
          es.close();
        };
        await seen(ctx, scheme);
      }
    },
  },
  {
    name: 'request-headers',
    rule: 'GET with Accept: text/event-stream and Cache-Control: no-cache, no Last-Event-ID at first',
    expect: ['open 1'],
    requests: ['GET /stream', 'accept=text/event-stream cache-control=no-cache'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      await seen(ctx, 'open');
      es.close();
    },
  },
  ...GOOD_TYPES.map((type) => {
    const wptCase = simple(
      `mime-ok-${typeSlug(type)}`,
      `Content-Type ${type} opens the stream (MIME parameters ignored, case-insensitive, UTF-8 always)`,
      ['open 1', 'message "é" lid='],
    );
    if (/charset=(?!utf-8)/i.test(type)) {
      wptCase.chromium = {
        native: {
          why: 'Chromium fails the connection when the Content-Type has a charset other than UTF-8, where the standard says to ignore MIME type parameters ("HTTP 200 OK responses with a Content-Type header specifying the type text/event-stream, ignoring any MIME type parameters, must be processed") and to decode as UTF-8 always',
          expect: ['error 2'],
        },
      };
    }
    return wptCase;
  }),
  ...BAD_TYPES.map((type) =>
    refusedAfterReconnect(
      `mime-bad-${typeSlug(type)}`,
      `a 200 with Content-Type ${type || '(none)'} fails the connection: error, CLOSED, no reconnection`,
    ),
  ),
  ...BAD_STATUSES.map((status) =>
    refusedAfterReconnect(
      `status-${status}`,
      `status ${status} fails the connection: error, CLOSED, no reconnection`,
    ),
  ),
  ...REDIRECTS.map(
    (status): WptCase => ({
      name: `redirect-${status}`,
      rule: `a ${status} redirect is followed; url stays as given; reconnection goes to the final URL`,
      expect: [
        'open 1',
        'message "redirected" lid=r origin=same',
        'url unchanged true',
        'error 0',
        'open 1',
        'message "again" lid=r origin=same',
      ],
      requests: ['GET /start', 'GET /stream', 'GET /stream lei=r'],
      async run(ctx) {
        const es = new ctx.EventSource(`${ctx.base}/start`);
        es.onopen = () => ctx.log(`open ${es.readyState}`);
        es.onerror = () => ctx.log(`error ${es.readyState}`);
        es.onmessage = (e) => {
          ctx.log(
            `message ${JSON.stringify(e.data)} lid=${e.lastEventId} origin=${originToken(ctx, e.origin)}`,
          );
          if (e.data === 'redirected') ctx.log(`url unchanged ${es.url === `${ctx.base}/start`}`);
        };
        await seen(ctx, 'message "again"');
        es.close();
      },
    }),
  ),
  {
    name: 'redirect-cross-origin',
    rule: "events' origin is the origin of the final URL, after a redirect to another origin",
    expect: ['open 1', 'message "hello" origin=other url unchanged=true'],
    requests: ['GET /start', 'GET /stream'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/start`);
      es.onopen = () => ctx.log(`open ${es.readyState}`);
      es.onerror = () => ctx.log(`error ${es.readyState}`);
      es.onmessage = (e) =>
        ctx.log(
          `message ${JSON.stringify(e.data)} origin=${originToken(ctx, e.origin)} url unchanged=${es.url === `${ctx.base}/start`}`,
        );
      await seen(ctx, 'message');
      es.close();
    },
  },
  {
    name: 'cross-origin-reconnect',
    rule: 'a cross-origin stream reconnects with Last-Event-ID',
    expect: [
      'open 1',
      'message "a" lid=x1 origin=other',
      'error 0',
      'open 1',
      'message "b" lid=x1 origin=other',
    ],
    requests: ['GET /stream', 'GET /stream lei=x1'],
    heraldBrowserPreflights: ['OPTIONS /stream'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.other}/stream`);
      es.onopen = () => ctx.log(`open ${es.readyState}`);
      es.onerror = () => ctx.log(`error ${es.readyState}`);
      es.onmessage = (e) =>
        ctx.log(
          `message ${JSON.stringify(e.data)} lid=${e.lastEventId} origin=${originToken(ctx, e.origin)}`,
        );
      await seen(ctx, 'message "b"');
      es.close();
    },
  },
  {
    name: 'cross-origin',
    rule: "a cross-origin stream allowed by CORS opens; origin is the stream's",
    expect: ['open 1', 'message "hello" origin=other'],
    requests: ['GET /stream'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.other}/stream`);
      es.onopen = () => ctx.log(`open ${es.readyState}`);
      es.onerror = () => ctx.log(`error ${es.readyState}`);
      es.onmessage = (e) =>
        ctx.log(`message ${JSON.stringify(e.data)} origin=${originToken(ctx, e.origin)}`);
      await seen(ctx, 'message');
      es.close();
    },
  },
  simple(
    'reconnect-end-of-stream',
    'the end of a 200 stream: error with readyState CONNECTING, then a new request with Last-Event-ID, open again',
    ['open 1', 'message "a" lid=1', 'error 0', 'open 1', 'message "b" lid=1'],
    { requests: ['GET /stream', 'GET /stream lei=1'] },
  ),
  simple(
    'reconnect-network-error-mid-body',
    'a connection reset during the body reconnects like an end of stream',
    ['open 1', 'message "a" lid=5', 'error 0', 'open 1', 'message "b" lid=5'],
    { requests: ['GET /stream', 'GET /stream lei=5'] },
  ),
  simple(
    'reconnect-network-error-before-response',
    'a connection reset before any response reestablishes the connection (error, CONNECTING)',
    ['open 1', 'message "a" lid=', 'error 0', 'error 0', 'open 1', 'message "c" lid='],
    { requests: ['GET /stream', 'GET /stream', 'GET /stream'] },
  ),
  {
    name: 'connection-refused',
    rule: 'a connection that cannot be made reestablishes the connection: error with CONNECTING',
    expect: ['error 0'],
    async run(ctx) {
      const es = new ctx.EventSource(ctx.dead);
      watch(ctx, es);
      await seen(ctx, 'error');
      es.close();
    },
  },
  simple(
    'last-event-id-utf8',
    'Last-Event-ID carries the last event ID string encoded as UTF-8',
    ['open 1', 'message "a" lid=é☃𝄞', 'error 0', 'open 1', 'message "b" lid=é☃𝄞'],
    { requests: ['GET /stream', 'GET /stream lei=é☃𝄞'] },
  ),
  simple(
    'last-event-id-from-id-only-block',
    'an id in a block without data still sets the last event ID (sent on reconnection)',
    ['open 1', 'message "a" lid=1', 'error 0', 'open 1', 'message "b" lid=2'],
    { requests: ['GET /stream', 'GET /stream lei=2'] },
  ),
  simple(
    'last-event-id-reset-empty',
    'an empty id resets the last event ID: no Last-Event-ID header on reconnection',
    ['open 1', 'message "a" lid=1', 'message "b" lid=', 'error 0', 'open 1', 'message "c" lid='],
    { requests: ['GET /stream', 'GET /stream'] },
  ),
  simple(
    'last-event-id-reset-no-colon',
    'a line "id" without colon is an empty id: it resets the last event ID',
    ['open 1', 'message "a" lid=1', 'message "b" lid=', 'error 0', 'open 1', 'message "c" lid='],
    { requests: ['GET /stream', 'GET /stream'] },
  ),
  simple(
    'last-event-id-null-ignored',
    'an id containing NULL is ignored',
    ['open 1', 'message "a" lid=1', 'message "b" lid=1', 'error 0', 'open 1', 'message "c" lid=1'],
    { requests: ['GET /stream', 'GET /stream lei=1'] },
  ),
  simple(
    'last-event-id-persists',
    'events without an id keep the last event ID, across events and reconnections',
    [
      'open 1',
      'message "1" lid=1',
      'message "2" lid=1',
      'message "3" lid=2',
      'error 0',
      'open 1',
      'message "4" lid=2',
    ],
    { requests: ['GET /stream', 'GET /stream lei=2'] },
  ),
  simple(
    'unterminated-final-event',
    'an event cut off by the end of the stream is not dispatched and its id is not used',
    ['open 1', 'message "a" lid=1', 'error 0', 'open 1', 'message "c" lid=1'],
    { requests: ['GET /stream', 'GET /stream lei=1'] },
  ),
  {
    name: 'retry-persists',
    rule: 'retry: sets the reconnection time, also for the connections after the next one',
    expect: ['open 1', 'error 0', 'fast', 'open 1', 'error 0', 'fast', 'open 1'],
    requests: ['GET /stream', 'GET /stream', 'GET /stream'],
    run: (ctx) => reconnectPace(ctx, 3),
  },
  ...BOGUS_RETRIES.map(
    ([slug, value]): WptCase => ({
      name: `retry-bogus-${slug}`,
      rule: `"retry:${value}" is not only ASCII digits: ignored, the reconnection time stays 20 ms`,
      expect: ['open 1', 'error 0', 'fast', 'open 1', 'error 0', 'fast', 'open 1'],
      requests: ['GET /stream', 'GET /stream', 'GET /stream'],
      timeoutMs: 5000,
      run: (ctx) => reconnectPace(ctx, 3),
      chromium:
        value === ''
          ? {
              native: {
                why: 'Chromium resets the reconnection time to its default (3 s) on a "retry:" field with an empty value, where the standard ignores any value that is not only ASCII digits ("Otherwise, ignore the field")',
                expect: ['open 1', 'error 0', 'fast', 'open 1', 'error 0', 'slow', 'open 1'],
              },
            }
          : undefined,
    }),
  ),
  simple(
    'bom-per-connection',
    "one leading BOM is stripped from each connection's stream; a second one is part of the line",
    ['open 1', 'message "a" lid=', 'error 0', 'open 1', 'message "b" lid='],
  ),
  simple(
    'utf8-split-across-chunks',
    'the stream is decoded as UTF-8 even when a character is split between packets',
    ['open 1', 'message "é☃" lid='],
  ),
  simple(
    'blocks-without-data',
    'blocks without data dispatch nothing (but an id in them counts); "data" alone is an empty line of data',
    ['open 1', 'message "" lid=3', 'message "\\n" lid=3', 'foo "x" lid=3'],
    { named: ['foo'] },
  ),
  {
    name: 'window-stop',
    rule: 'window.stop() cancels the fetch: that fails the connection (error, CLOSED), no reconnection',
    browserOnly: true,
    expect: ['error 2', 'settled 2'],
    heraldLimitation: {
      browser: {
        why: 'window.stop() makes a pending fetch() reject with the same TypeError ("Failed to fetch") as any network error, so a fetch-based EventSource cannot tell the two apart: it reestablishes the connection (error, CONNECTING) where the standard fails it',
        expect: ['error 0', 'settled 0'],
      },
    },
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      await ctx.wait(50); // the server answers after 300 ms
      (globalThis as unknown as { stop(): void }).stop();
      await seen(ctx, 'error');
      await ctx.wait(SETTLE_MS * 3);
      ctx.log(`settled ${es.readyState}`);
      es.close();
    },
  },
  {
    name: 'close-in-open',
    rule: 'close() in onopen: CLOSED at once, no message and no error follow',
    expect: ['open 1', 'closed 2', 'settled 2'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      es.addEventListener('open', () => {
        es.close();
        ctx.log(`closed ${es.readyState}`);
      });
      await seen(ctx, 'closed');
      await ctx.wait(SETTLE_MS);
      ctx.log(`settled ${es.readyState}`);
    },
  },
  {
    name: 'close-in-message',
    rule: 'close() in a message handler: the other listeners of that event run, no later event is dispatched',
    expect: ['first "1"', 'second "1"', 'settled 2'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      es.onerror = () => ctx.log(`error ${es.readyState}`);
      es.addEventListener('message', (e) => {
        ctx.log(`first ${JSON.stringify((e as MessageEvent).data)}`);
        es.close();
      });
      es.addEventListener('message', (e) =>
        ctx.log(`second ${JSON.stringify((e as MessageEvent).data)}`),
      );
      await seen(ctx, 'second');
      await ctx.wait(SETTLE_MS);
      ctx.log(`settled ${es.readyState}`);
    },
  },
  {
    name: 'close-while-connecting',
    rule: 'close() before the response: CLOSED, and no event at all',
    expect: ['closed 2', 'settled 2'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      es.close();
      ctx.log(`closed ${es.readyState}`);
      await ctx.wait(SETTLE_MS * 2);
      ctx.log(`settled ${es.readyState}`);
    },
  },
  {
    name: 'close-while-waiting-to-reconnect',
    rule: 'close() during the reconnection delay: no new request',
    expect: ['open 1', 'message "a" lid=', 'error 0', 'closed 2', 'settled 2'],
    requests: ['GET /stream'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      await seen(ctx, 'error');
      await ctx.wait(20);
      es.close();
      ctx.log(`closed ${es.readyState}`);
      await ctx.wait(SETTLE_MS + 100);
      ctx.log(`settled ${es.readyState}`);
    },
  },
  {
    name: 'close-in-error',
    rule: 'close() in onerror during reestablishing: no reconnection',
    expect: ['open 1', 'message "a" lid=', 'error 0', 'closed 2', 'settled 2'],
    requests: ['GET /stream'],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      watch(ctx, es);
      es.addEventListener('error', () => {
        es.close();
        ctx.log(`closed ${es.readyState}`);
      });
      await seen(ctx, 'closed');
      await ctx.wait(SETTLE_MS);
      ctx.log(`settled ${es.readyState}`);
    },
  },
  {
    name: 'event-objects',
    rule: 'open and error are plain Events; messages are MessageEvents with data, origin, lastEventId, no source or ports; none bubble or can be canceled',
    expect: [
      'open Event bubbles=false cancelable=false target=true',
      'message MessageEvent data="x" origin=same lid=7 source=null ports=0 bubbles=false cancelable=false target=true current=true',
      'error Event bubbles=false cancelable=false target=true',
    ],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      const describe = (e: Event): string =>
        `${e.type} ${e instanceof MessageEvent ? 'MessageEvent' : e.constructor === Event ? 'Event' : e.constructor.name}`;
      es.onopen = (e) =>
        ctx.log(
          `${describe(e)} bubbles=${e.bubbles} cancelable=${e.cancelable} target=${e.target === es}`,
        );
      es.onmessage = (e) =>
        ctx.log(
          `${describe(e)} data=${JSON.stringify(e.data)} origin=${originToken(ctx, e.origin)} lid=${e.lastEventId} source=${e.source} ports=${e.ports.length} bubbles=${e.bubbles} cancelable=${e.cancelable} target=${e.target === es} current=${e.currentTarget === es}`,
        );
      es.onerror = (e) => {
        ctx.log(
          `${describe(e)} bubbles=${e.bubbles} cancelable=${e.cancelable} target=${e.target === es}`,
        );
        es.close();
      };
      await seen(ctx, 'error');
    },
  },
  {
    name: 'trusted-events',
    rule: 'events the user agent dispatches are trusted (isTrusted true)',
    expect: ['open true', 'message true'],
    heraldLimitation: {
      browser: {
        why: "only the user agent can dispatch trusted events; a script's dispatchEvent() always yields isTrusted false",
        expect: ['open false', 'message false'],
      },
      node: {
        why: 'events dispatched with dispatchEvent() are untrusted in Node as in browsers',
        expect: ['open false', 'message false'],
      },
    },
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      es.onopen = (e) => ctx.log(`open ${e.isTrusted}`);
      es.onmessage = (e) => ctx.log(`message ${e.isTrusted}`);
      await seen(ctx, 'message');
      es.close();
    },
  },
  {
    name: 'named-events',
    rule: 'event: picks the type; onmessage sees only "message"; an "error" or "open" event from the stream is a MessageEvent',
    expect: [
      'open handler Event',
      'listener foo "f"',
      'onmessage "explicit"',
      'onmessage "empty type"',
      'onerror MessageEvent "e" readyState=1',
      'onopen MessageEvent "o" readyState=1',
      'listener Foo "case-sensitive"',
    ],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      const kind = (e: Event): string =>
        e instanceof MessageEvent ? `MessageEvent ${JSON.stringify(e.data)}` : 'Event';
      let opened = false;
      es.onopen = (e) => {
        ctx.log(
          opened ? `onopen ${kind(e)} readyState=${es.readyState}` : `open handler ${kind(e)}`,
        );
        opened = true;
      };
      es.onmessage = (e) => ctx.log(`onmessage ${JSON.stringify(e.data)}`);
      es.onerror = (e) => ctx.log(`onerror ${kind(e)} readyState=${es.readyState}`);
      for (const type of ['foo', 'Foo']) {
        es.addEventListener(type, (e) =>
          ctx.log(`listener ${type} ${JSON.stringify((e as MessageEvent).data)}`),
        );
      }
      await seen(ctx, 'listener Foo');
      es.close();
    },
  },
  {
    name: 'handler-attributes',
    rule: 'on… attributes: one listener in addEventListener order, replaced in place, removed by null; non-objects become null; this is the source',
    expect: [
      'A 1',
      'H1 1 this=true',
      'B 1',
      'A 2',
      'H2 2',
      'B 2',
      'A 3',
      'B 3',
      'H3 3',
      'A 4',
      'B 4',
      'string null',
      'object object',
    ],
    async run(ctx) {
      const es = new ctx.EventSource(`${ctx.base}/stream`);
      let n = 0;
      const step = (e: Event): string => (e as MessageEvent).data as string;
      es.addEventListener('message', (e) => {
        n++;
        ctx.log(`A ${step(e)}`);
      });
      es.onmessage = function (this: unknown, e) {
        ctx.log(`H1 ${step(e)} this=${this === es}`);
      };
      es.addEventListener('message', (e) => {
        ctx.log(`B ${step(e)}`);
        if (n === 1) es.onmessage = (e2) => ctx.log(`H2 ${step(e2)}`);
        if (n === 2) {
          es.onmessage = null;
          es.onmessage = (e3) => ctx.log(`H3 ${step(e3)}`);
        }
        if (n === 4) {
          const loose = es as unknown as { onmessage: unknown };
          loose.onmessage = 'not a function';
          ctx.log(`string ${loose.onmessage}`);
          loose.onmessage = {};
          ctx.log(`object ${typeof loose.onmessage}`);
        }
      });
      await seen(ctx, 'object');
      es.close();
    },
  },
];
