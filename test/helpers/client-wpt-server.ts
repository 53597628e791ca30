// The server side of the WPT-style EventSource suite (cases in client-wpt-cases.ts): two
// node:http servers on two ports (two origins), whose routes /wpt/<run>/<case>/<path> answer as
// each case needs and record every request, plus a page and the scripts Chromium loads.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import {
  BAD_STATUSES,
  BAD_TYPES,
  BOGUS_RETRIES,
  GOOD_TYPES,
  REDIRECTS,
  typeSlug,
} from './client-wpt-cases.js';
import { closeServer, getFreePort, listen } from './net.js';

/** What a case's server part gets for one request. */
interface Hit {
  req: IncomingMessage;
  res: ServerResponse;
  /** 1-based number of this request among the (non-OPTIONS) requests of this case run. */
  n: number;
  /** The same, counted per path. */
  nPath: number;
  /** The path after the case's base, e.g. `/stream`. */
  path: string;
  /** This case run's base on the other origin. */
  otherBase: string;
  /** Adds a line to the case run's request record. */
  record(line: string): void;
}

type Handler = (hit: Hit) => void;

/** Writes an event-stream response head (200, text/event-stream unless `type` says otherwise). */
function head(
  res: ServerResponse,
  options: { status?: number; type?: string; end?: boolean } = {},
): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  const type = options.type ?? 'text/event-stream';
  if (type !== '') headers['content-type'] = type;
  // A stream that ends closes its connection: each reconnection then opens a fresh one.
  if (options.end) headers.connection = 'close';
  res.writeHead(options.status ?? 200, headers);
  res.flushHeaders();
}

/** Answers with `body` as an event stream; ends it when `end`, else keeps it open. */
function sse(
  res: ServerResponse,
  body: string,
  options: { end?: boolean; type?: string; status?: number } = {},
): void {
  head(res, options);
  if (body !== '') res.write(body);
  if (options.end) res.end();
}

/** A first stream that ends (reconnection time 20 ms), then `then` for the later requests. */
function thenAfterFirst(first: string, later: (hit: Hit) => void): Handler {
  return (hit) => {
    if (hit.n === 1) sse(hit.res, first, { end: true });
    else later(hit);
  };
}

/** Two connections: `first` ends, `second` stays open. */
function twoStreams(first: string, second: string): Handler {
  return thenAfterFirst(first, (hit) => sse(hit.res, second));
}

/** Three connections: `retry: 20`, then `second` (both end at once), then one that stays open. */
function retryThenEnd(second: string): Handler {
  return ({ res, n }) => {
    if (n === 1) sse(res, 'retry: 20\n\n', { end: true });
    else if (n === 2) sse(res, second, { end: true });
    else sse(res, '');
  };
}

const FIRST = 'retry: 20\ndata: first\n\n';

const handlers: Record<string, Handler> = {
  interface: ({ res }) => sse(res, ''),
  'url-serialized': ({ res }) => sse(res, ''),
  'request-headers': ({ req, res, record }) => {
    record(`accept=${req.headers.accept} cache-control=${req.headers['cache-control']}`);
    sse(res, '');
  },
  'redirect-cross-origin': ({ res, path, otherBase }) => {
    if (path === '/start') res.writeHead(307, { location: `${otherBase}/stream` }).end();
    else sse(res, 'data: hello\n\n');
  },
  'cross-origin': ({ res }) => sse(res, 'data: hello\n\n'),
  'reconnect-end-of-stream': twoStreams('retry: 20\nid: 1\ndata: a\n\n', 'data: b\n\n'),
  'reconnect-network-error-mid-body': (hit) => {
    if (hit.n > 1) {
      sse(hit.res, 'data: b\n\n');
      return;
    }
    sse(hit.res, 'retry: 20\nid: 5\ndata: a\n\n');
    setTimeout(() => hit.res.socket?.destroy(), 30);
  },
  'reconnect-network-error-before-response': (hit) => {
    if (hit.n === 1) sse(hit.res, 'retry: 20\ndata: a\n\n', { end: true });
    else if (hit.n === 2) hit.req.socket.destroy();
    else sse(hit.res, 'data: c\n\n');
  },
  'last-event-id-utf8': twoStreams('retry: 20\nid: é☃𝄞\ndata: a\n\n', 'data: b\n\n'),
  'last-event-id-from-id-only-block': twoStreams(
    'retry: 20\nid: 1\ndata: a\n\nid: 2\n\n',
    'data: b\n\n',
  ),
  'last-event-id-reset-empty': twoStreams(
    'retry: 20\nid: 1\ndata: a\n\nid:\ndata: b\n\n',
    'data: c\n\n',
  ),
  'last-event-id-reset-no-colon': twoStreams(
    'retry: 20\nid: 1\ndata: a\n\nid\ndata: b\n\n',
    'data: c\n\n',
  ),
  'last-event-id-null-ignored': twoStreams(
    'retry: 20\nid: 1\ndata: a\n\nid: x\0y\ndata: b\n\n',
    'data: c\n\n',
  ),
  'last-event-id-persists': twoStreams(
    'retry: 20\nid: 1\ndata: 1\n\ndata: 2\n\nid: 2\ndata: 3\n\n',
    'data: 4\n\n',
  ),
  'unterminated-final-event': twoStreams(
    'retry: 20\nid: 1\ndata: a\n\nid: 2\ndata: b',
    'data: c\n\n',
  ),
  'retry-persists': retryThenEnd(''),
  'cross-origin-reconnect': twoStreams('retry: 20\nid: x1\ndata: a\n\n', 'data: b\n\n'),
  'bom-per-connection': twoStreams(
    '\uFEFFretry: 20\ndata: a\n\n',
    '\uFEFFdata: b\n\n\uFEFFdata: x\n\n',
  ),
  'utf8-split-across-chunks': ({ res }) => {
    const bytes = Buffer.from('data: é☃\n\n');
    sse(res, '');
    res.write(bytes.subarray(0, 7)); // "data: " and the first byte of é
    setTimeout(() => res.write(bytes.subarray(7, 9)), 30); // the rest of é, the first byte of ☃
    setTimeout(() => res.write(bytes.subarray(9)), 60);
  },
  'blocks-without-data': ({ res }) =>
    sse(res, 'event: foo\n\nid: 3\n\ndata\n\ndata:\ndata:\n\nevent: foo\ndata: x\n\n'),
  'window-stop': ({ res }) => {
    setTimeout(() => {
      if (!res.destroyed) sse(res, 'retry: 20\ndata: late\n\n', { end: true });
    }, 300);
  },
  'close-in-open': ({ res }) => sse(res, 'data: never\n\n'),
  'close-in-message': ({ res }) => sse(res, 'data: 1\n\ndata: 2\n\ndata: 3\n\n'),
  'close-while-connecting': ({ res }) => {
    setTimeout(() => {
      if (!res.destroyed) sse(res, 'data: x\n\n');
    }, 100);
  },
  'close-while-waiting-to-reconnect': twoStreams('retry: 100\ndata: a\n\n', 'data: b\n\n'),
  'close-in-error': twoStreams('retry: 20\ndata: a\n\n', 'data: b\n\n'),
  'event-objects': ({ res }) => sse(res, 'id: 7\ndata: x\n\n', { end: true }),
  'trusted-events': ({ res }) => sse(res, 'data: x\n\n'),
  'named-events': ({ res }) =>
    sse(
      res,
      'event: foo\ndata: f\n\nevent: message\ndata: explicit\n\nevent:\ndata: empty type\n\n' +
        'event: error\ndata: e\n\nevent: open\ndata: o\n\nevent: Foo\ndata: case-sensitive\n\n',
    ),
  'handler-attributes': ({ res }) => sse(res, 'data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n'),
};
for (const type of GOOD_TYPES) {
  handlers[`mime-ok-${typeSlug(type)}`] = ({ res }) => sse(res, 'data: é\n\n', { type });
}
for (const type of BAD_TYPES) {
  handlers[`mime-bad-${typeSlug(type)}`] = thenAfterFirst(FIRST, ({ res }) =>
    sse(res, 'data: second\n\n', { type, end: true }),
  );
}
for (const status of BAD_STATUSES) {
  handlers[`status-${status}`] = thenAfterFirst(FIRST, ({ res }) =>
    sse(res, status === 204 || status === 205 ? '' : 'data: second\n\n', { status, end: true }),
  );
}
for (const [slug, value] of BOGUS_RETRIES) {
  handlers[`retry-bogus-${slug}`] = retryThenEnd(`retry:${value}\n\n`);
}
for (const status of REDIRECTS) {
  handlers[`redirect-${status}`] = ({ res, path, nPath }) => {
    if (path === '/start') res.writeHead(status, { location: 'stream' }).end();
    else if (nPath === 1) sse(res, 'retry: 20\nid: r\ndata: redirected\n\n', { end: true });
    else sse(res, 'data: again\n\n');
  };
}

/** One case run's state. */
interface Run {
  n: number;
  byPath: Map<string, number>;
  requests: string[];
  responses: Set<ServerResponse>;
}

/** The suite's servers. */
export interface WptServer {
  /** Origin of the main server (the page's). */
  origin: string;
  /** Origin of the second server. */
  otherOrigin: string;
  /** A URL nobody listens on. */
  dead: string;
  /** The URLs of case `name` in run `run`. */
  urls(
    run: string,
    name: string,
  ): {
    base: string;
    other: string;
    dead: string;
    origin: string;
    otherOrigin: string;
  };
  /** The requests case `name` of run `run` received, as `METHOD /path[ lei=…]` lines. */
  requests(run: string, name: string): string[];
  /** Ends the responses case `name` of run `run` still has open. */
  finish(run: string, name: string): void;
  /** Serves `body` with `type` at `path` on the main server (the page and its scripts). */
  asset(path: string, type: string, body: string): void;
  /** Closes both servers. */
  close(): Promise<void>;
}

/** Starts the two servers of the suite. */
export async function startWptServer(): Promise<WptServer> {
  const runs = new Map<string, Run>();
  const assets = new Map<string, { type: string; body: string }>();
  let otherOrigin = '';
  const runOf = (key: string): Run => {
    let run = runs.get(key);
    if (run === undefined) {
      run = { n: 0, byPath: new Map(), requests: [], responses: new Set() };
      runs.set(key, run);
    }
    return run;
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    res.on('error', () => {});
    req.socket.on('error', () => {});
    // CORS for the cross-origin cases: any origin may read, and reconnect with Last-Event-ID.
    res.setHeader('access-control-allow-origin', '*');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const asset = assets.get(url.pathname);
    if (asset !== undefined) {
      res.writeHead(200, { 'content-type': asset.type }).end(asset.body);
      return;
    }
    const match = /^\/wpt\/([^/]+)\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (match === null) {
      res.writeHead(404).end();
      return;
    }
    const [, runName, caseName, path] = match as unknown as [string, string, string, string];
    const run = runOf(`${runName}/${caseName}`);
    const header = req.headers['last-event-id'];
    // Node reads header bytes as Latin-1: undo that to see the UTF-8 the client sent.
    const lei =
      typeof header === 'string' ? ` lei=${Buffer.from(header, 'latin1').toString('utf8')}` : '';
    run.requests.push(`${req.method} ${path}${url.search}${lei}`);
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, {
          'access-control-allow-headers': 'last-event-id, cache-control',
          'access-control-allow-methods': 'GET',
        })
        .end();
      return;
    }
    run.n++;
    const nPath = (run.byPath.get(path) ?? 0) + 1;
    run.byPath.set(path, nPath);
    run.responses.add(res);
    res.on('close', () => run.responses.delete(res));
    const handler = handlers[caseName];
    if (handler === undefined) {
      res.writeHead(404).end(`no case ${caseName}`);
      return;
    }
    handler({
      req,
      res,
      n: run.n,
      nPath,
      path,
      otherBase: `${otherOrigin}/wpt/${runName}/${caseName}`,
      record: (line) => run.requests.push(line),
    });
  };

  const main = http.createServer(listener);
  const other = http.createServer(listener);
  const origin = `http://127.0.0.1:${await listen(main)}`;
  otherOrigin = `http://127.0.0.1:${await listen(other)}`;
  const dead = `http://127.0.0.1:${await getFreePort()}/nothing-listens-here`;
  return {
    origin,
    otherOrigin,
    dead,
    urls: (run, name) => ({
      base: `${origin}/wpt/${run}/${name}`,
      other: `${otherOrigin}/wpt/${run}/${name}`,
      dead,
      origin,
      otherOrigin,
    }),
    requests: (run, name) => [...(runs.get(`${run}/${name}`)?.requests ?? [])],
    finish(run, name) {
      for (const res of runs.get(`${run}/${name}`)?.responses ?? []) res.destroy();
    },
    asset(path, type, body) {
      assets.set(path, { type, body });
    },
    async close() {
      await Promise.all([closeServer(main), closeServer(other)]);
    },
  };
}
