// Fuzz target: the subscribe API (`GET|HEAD /.well-known/mercure`) over raw sockets, so any
// bytes can be sent. Random selectors (templates, broken templates, %-encodings, unicode, too
// many), random Last-Event-ID headers and `lastEventID` parameters (printable, obs-text bytes,
// control characters, known and unknown ids, `earliest`), tokens, and header-injection attempts.
// Whatever comes in: no 5xx, only the hub's own response headers (nothing injected, nothing
// reflected but a printable Last-Event-ID), a body that is a well-formed event stream of
// published public events (or a `herald.gap`), and never the private update no claim allows.
import { connect } from 'node:net';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { type HubHandle, startLocalHub } from '../../chaos/lib/hub.js';
import { send } from '../lib/http.js';
import { interpretEventStream } from '../lib/sse-model.js';
import type { FuzzSession, FuzzTarget } from '../target.js';

const SECRET = 'fuzz-subscribe-secret-of-at-least-32-bytes';
const PRIVATE_TOPIC = '/private/secret';
const PRIVATE_DATA = 'PRIVATE-DATA-NOBODY-MAY-SEE';
const MAX_TOPICS = 20;

/** Response headers the hub may send on this route. */
const HUB_HEADERS = new Set([
  'content-type',
  'cache-control',
  'connection',
  'keep-alive',
  'date',
  'transfer-encoding',
  'content-length',
  'x-accel-buffering',
  'last-event-id',
  'vary',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'www-authenticate',
  'retry-after',
  'x-content-type-options',
]);
const STATUSES = new Set([200, 400, 401, 404, 405, 413, 414, 429, 431]);

/** Selectors that are fine, odd, or broken. */
const selector = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/public/1',
      '/public/{id}',
      '*',
      '{+any}',
      '/public{/id}',
      PRIVATE_TOPIC,
      '/private/{name}',
      '{',
      '}',
      '{}',
      '{+}',
      '/a/{b',
      '/{a}{b}{c}{d}{e}',
      '{?x,y,z}',
      '{#frag}',
      '%',
      '%zz',
      '%0D%0A',
      '\u2028',
      '/ünï',
      '',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

/** Claims that never match the private topic. */
const claim = fc.uniqueArray(fc.constantFrom('/public/{id}', '/public/1', '/other', '/private/x'), {
  maxLength: 3,
});

/** A header value: bytes (latin1 in a JS string), printable or not. */
const headerValue = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
      maxLength: 8,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'earliest',
      'x\r\nX-Injected: yes',
      'x\r\nSet-Cookie: stolen=1',
      'a\0b',
      '\t',
      'x'.repeat(20_000),
      '\u00e9\u00e8',
    ),
  },
);

/**
 * How a query value is written into the request target: every byte but unreserved ones
 * percent-encoded, or (`raw`) only the bytes a request line cannot carry, leaving `%`, `&`, `#`,
 * `+`, `=` and the like as they are.
 */
function encode(value: string, raw: boolean): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const keep = raw
      ? byte >= 0x21 && byte <= 0x7e
      : /[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte));
    out += keep
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const request = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
  topics: fc.array(selector, { maxLength: 24 }),
  raw: fc.boolean(),
  queryId: fc.option(fc.oneof(headerValue, fc.constantFrom('earliest', 'unknown-id')), {
    nil: undefined,
  }),
  headerId: fc.option(headerValue, { nil: undefined }),
  knownId: fc.boolean(),
  auth: fc.constantFrom('none', 'none', 'valid', 'invalid'),
  claim,
  origin: fc.option(fc.constantFrom('https://app.example', 'https://evil.example'), {
    nil: undefined,
  }),
  extra: fc.option(fc.tuple(fc.constantFrom('X-Inject', 'Cookie', 'Accept'), headerValue), {
    nil: undefined,
  }),
});

interface RawAnswer {
  status: number;
  /** Header lines as sent, name lower-cased. */
  headers: Array<[string, string]>;
  body: Buffer;
}

/** Sends raw bytes; reads the head, then the body until the hub is quiet or done. */
function rawExchange(url: string, bytes: Buffer, head: boolean): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = Buffer.alloc(0);
    let quiet: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      socket.destroy();
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) {
        reject(new Error(`no complete response head: ${JSON.stringify(data.toString('latin1'))}`));
        return;
      }
      const lines = data.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers = lines.slice(1).map((line): [string, string] => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
      });
      resolve({ status, headers, body: data.subarray(end + 4) });
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headText = data.subarray(0, end).toString('latin1');
      const length = /\r\ncontent-length: (\d+)/i.exec(headText);
      if (head || (length !== null && data.length - end - 4 >= Number(length[1]))) {
        finish();
        return;
      }
      // An event stream never ends: read until the hub has been quiet for a moment.
      clearTimeout(quiet);
      quiet = setTimeout(finish, 30);
    });
    socket.on('close', finish);
    socket.on('error', () => finish());
    socket.write(bytes);
  });
}

export const subscribeApiTarget: FuzzTarget = {
  name: 'subscribe-api',
  summary:
    'random selectors, Last-Event-IDs, tokens and header-injection attempts over raw sockets: no 5xx, no foreign header, a well-formed stream, no private leak',
  cost: 60,
  async setup(): Promise<FuzzSession> {
    const hub: HubHandle = await startLocalHub([
      '--jwt-key',
      SECRET,
      '--anonymous',
      '--max-topics',
      String(MAX_TOPICS),
      '--cors-origins',
      'https://app.example',
      '--history-size',
      '50',
    ]);
    const sign = (payload: Record<string, unknown>): Promise<string> =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(SECRET));
    const publisher = await sign({ mercure: { publish: ['*'] } });
    const published = new Set<string>();
    const publish = async (topic: string, data: string, priv = false): Promise<string> => {
      const form = new URLSearchParams({ topic, data });
      if (priv) form.set('private', 'on');
      const answer = await send(`${hub.url}/.well-known/mercure`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${publisher}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
      });
      published.add(answer.body);
      return answer.body;
    };
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await publish('/public/1', `public ${i}`));
      ids.push(await publish(PRIVATE_TOPIC, PRIVATE_DATA, true));
    }
    const statuses: Record<string, number> = {};
    let streams = 0;
    let events = 0;

    const property = fc.asyncProperty(request, fc.nat(), async (r, pick) => {
      // The request target.
      const query = r.topics.map((t) => `topic=${encode(t, r.raw)}`);
      const id = r.knownId ? ids[pick % ids.length]! : r.queryId;
      if (id !== undefined) query.push(`lastEventID=${encode(id, r.raw)}`);
      const lines = [`${r.method} /.well-known/mercure?${query.join('&')} HTTP/1.1`, 'Host: hub'];
      if (r.headerId !== undefined) lines.push(`Last-Event-ID: ${r.headerId}`);
      if (r.auth === 'valid') {
        lines.push(`Authorization: Bearer ${await sign({ mercure: { subscribe: r.claim } })}`);
      } else if (r.auth === 'invalid') {
        lines.push('Authorization: Bearer eyJhbGciOiJub25lIn0.e30.');
      }
      if (r.origin !== undefined) lines.push(`Origin: ${r.origin}`);
      if (r.extra !== undefined) lines.push(`${r.extra[0]}: ${r.extra[1]}`);
      lines.push('Connection: close', '', '');
      const answer = await rawExchange(
        hub.url,
        Buffer.from(lines.join('\r\n'), 'latin1'),
        r.method === 'HEAD',
      );
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      const what = `${lines[0]!.slice(0, 300)} → ${answer.status} ${JSON.stringify(answer.headers)}`;
      if (!STATUSES.has(answer.status)) throw new Error(`unexpected status: ${what}`);
      for (const [name, value] of answer.headers) {
        if (!HUB_HEADERS.has(name))
          throw new Error(`a header the hub does not send: ${name}: ${what}`);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
        if (/[\0-\x1f\x7f]/.test(value.replace(/\t/g, ''))) {
          throw new Error(`a control character in a response header: ${what}`);
        }
      }
      const echoed = answer.headers.find(([name]) => name === 'last-event-id')?.[1];
      if (echoed !== undefined && !/^[\x20-\x7e]+$/.test(echoed)) {
        throw new Error(`a non-printable Last-Event-ID was echoed: ${what}`);
      }
      const body = answer.body.toString('utf8');
      if (body.includes(PRIVATE_DATA)) throw new Error(`the private update leaked: ${what}`);
      if (answer.status === 200 && r.method === 'GET') {
        streams++;
        const stream = interpretEventStream(body.endsWith('\n\n') ? body : `${body}\n\n`);
        for (const event of stream.events) {
          events++;
          if (event.type === 'herald.gap') {
            const gap = JSON.parse(event.data) as {
              lastEventId: unknown;
              oldestAvailable: unknown;
            };
            if (typeof gap.lastEventId !== 'string') throw new Error(`a malformed gap: ${what}`);
          } else if (!published.has(event.lastEventId) || event.type !== 'message') {
            throw new Error(`an event that was never published: ${JSON.stringify(event)}: ${what}`);
          }
        }
      }
      return true;
    });
    return {
      property: property as fc.IRawProperty<unknown>,
      stats: () => ({
        ...Object.fromEntries(Object.entries(statuses).map(([s, n]) => [`status ${s}`, n])),
        streams,
        events,
      }),
      teardown: () => hub.close(),
    };
  },
};
