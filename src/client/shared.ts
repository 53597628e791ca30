import { HeraldClientError } from './errors.js';
import { type FetchLike, globalFetch, resolveUrl } from './request.js';
import type {
  ResponseHead,
  SharedPolicy,
  SharedRequest,
  TabMessage,
  WorkerMessage,
} from './shared-worker.js';
import type { EventMap, SharedMode, SubscribeOptions, Subscription } from './subscribe.js';
import { subscribe } from './subscribe.js';

// The tab's side of `subscribe(url, { shared: sharedConnection() })`. Each subscription keeps
// its whole pipeline (event types, JSON, schemas, dedupe, listeners, backoff) and reads, instead
// of a network response, a stream the SharedWorker (shared-worker.ts) feeds from the one real
// connection of its group: the worker's events re-encoded as event stream text, its failures
// as the same errors, its refusals as the same status and headers.

/** Options of {@link sharedConnection}. */
export interface SharedOptions {
  /**
   * The URL of the SharedWorker script (same origin as the page). Default: the file next to
   * this module (`client.shared-worker.js` beside the browser bundle, `shared-worker.js` beside
   * `dist/client/shared.js`). Pass it when a bundler moved the module away from the file.
   */
  workerUrl?: string | URL;
}

// The browser bundle's build names its sibling file (see scripts/build-client-bundle.mjs).
declare const HERALD_SHARED_WORKER_FILE: string | undefined;

/** The default worker script: the file next to this module. */
function defaultWorkerUrl(): string {
  const file =
    typeof HERALD_SHARED_WORKER_FILE === 'string'
      ? HERALD_SHARED_WORKER_FILE
      : './shared-worker.js';
  return new URL(file, import.meta.url).href;
}

/** One tab's connection to one SharedWorker. */
interface Client {
  post(message: TabMessage): void;
  attempts: Map<number, (message: WorkerMessage | undefined) => void>;
  /** The worker failed to start: attempts go to the network. */
  broken: boolean;
}

const clients = new Map<string, Client>();
let counter = 0;

/** How often a tab without Web Locks tells the worker it is alive, in ms. */
const PING_MS = 10_000;

/** The tab's client of the worker at `url`, or `undefined` where there is no SharedWorker. */
function connect(url: string): Client | undefined {
  const existing = clients.get(url);
  if (existing) return existing;
  const Worker = (globalThis as { SharedWorker?: typeof SharedWorker }).SharedWorker;
  if (typeof Worker !== 'function') return undefined;
  let port: MessagePort;
  let worker: SharedWorker;
  try {
    worker = new Worker(url, { type: 'module', name: 'herald' });
    port = worker.port;
  } catch {
    // A CSP that refuses the script, an unsupported `type: 'module'`: per-tab connections.
    return undefined;
  }
  const client: Client = {
    post: (message) => port.postMessage(message),
    attempts: new Map(),
    broken: false,
  };
  let pinger: ReturnType<typeof setInterval> | undefined;
  const abandon = (): void => {
    clearInterval(pinger);
    clients.delete(url);
    for (const settle of client.attempts.values()) settle(undefined);
    client.attempts.clear();
  };
  port.onmessage = ({ data }: MessageEvent<WorkerMessage>) => client.attempts.get(data.a)?.(data);
  // The script could not be loaded or run (404, a MIME type, a CSP): the attempts under way
  // fail as network errors, and their retries fetch on their own.
  worker.onerror = () => {
    client.broken = true;
    abandon();
  };
  const scope = globalThis as {
    navigator?: { locks?: LockManager };
    addEventListener?: (type: string, listener: () => void) => void;
  };
  const lock = `herald-tab-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const locks = scope.navigator?.locks;
  if (locks) {
    // Held for the tab's lifetime; the worker asks for it and is granted it when the tab is
    // gone. Hello only once it is held, so the worker's request queues behind the tab's.
    locks
      .request(lock, () => {
        client.post({ t: 'hello', lock });
        return new Promise<never>(() => {});
      })
      .catch(() => {});
  } else {
    client.post({ t: 'hello', lock: undefined });
    pinger = setInterval(() => client.post({ t: 'ping' }), PING_MS);
  }
  // SharedWorker ports have no close event: say goodbye when the page goes away. A page
  // restored from the back/forward cache reconnects through a new client.
  scope.addEventListener?.('pagehide', () => {
    client.post({ t: 'bye' });
    abandon();
  });
  port.start();
  clients.set(url, client);
  return client;
}

/** The text of a header value sent as UTF-8 bytes (see `utf8HeaderValue`). */
function fromByteString(value: string): string {
  return new TextDecoder().decode(Uint8Array.from(value, (char) => char.charCodeAt(0)));
}

/**
 * A Response a tab's connection reads as the worker's, with the worker's final URL (and, for a
 * refusal, the first bytes of its body, which the tab's connection reads its reason from).
 */
function rebuild(
  head: ResponseHead,
  body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null,
): Response {
  const response = new Response(body, {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
  });
  Object.defineProperty(response, 'url', { value: head.url });
  return response;
}

/**
 * The redirect the worker would not follow, as a browser's fetch gives it: an `opaqueredirect`
 * (status 0, no headers, no body), which the Response constructor cannot make.
 */
function opaqueRedirect(head: ResponseHead): Response {
  const response = Response.error();
  Object.defineProperties(response, {
    type: { value: 'opaqueredirect' },
    url: { value: head.url },
  });
  return response;
}

/** The error a failed worker attempt is to the tab's connection. */
function networkError(message: Extract<WorkerMessage, { t: 'fail' }> | undefined): TypeError {
  if (!message) return new TypeError('the shared worker is gone');
  // The tab's connection reads undici's timeout codes as IDLE_TIMEOUT.
  const cause = message.code === 'IDLE_TIMEOUT' ? { code: 'UND_ERR_BODY_TIMEOUT' } : undefined;
  return new TypeError(message.message, { cause });
}

/**
 * The shared mode of {@link subscribe} and `subscribeHub`: tabs of one origin that subscribe
 * to the same URL with the same request (credentials mode, headers or token)
 * and the same connection options share one connection, held by a SharedWorker. Each tab keeps
 * its own listeners and options; the connection is closed when the last tab's subscription
 * ends. Where there is no SharedWorker (or it cannot start), each tab connects on its own.
 *
 * ```ts
 * const sub = subscribe('/events', { shared: sharedConnection(), json: true });
 * ```
 *
 * `subscribe` throws a TypeError in this mode for `fetch` or `shouldRetry` (they cannot run in
 * the worker) and for a method other than GET.
 *
 * @param shared - where the worker script is
 */
export function sharedConnection(shared: SharedOptions = {}): SharedMode {
  return { subscribe: (url, options) => subscribeShared(url, options, shared) };
}

/** A subscription over the shared worker at `shared.workerUrl`. */
function subscribeShared<E extends EventMap>(
  url: string | URL,
  options: SubscribeOptions<E>,
  shared: SharedOptions,
): Subscription<E> {
  if (options.fetch || options.shouldRetry) {
    throw new TypeError(
      'shared: fetch and shouldRetry run in the tab and cannot be sent to the shared worker; leave them out, or leave out shared',
    );
  }
  if ((options.method ?? 'GET').toUpperCase() !== 'GET' || options.body != null) {
    // A POST stream answers one request (an LLM prompt): there is nothing for tabs to share.
    throw new TypeError('shared: only GET streams are shared; leave out shared for a POST');
  }
  const href = resolveUrl(url).href;
  const workerUrl =
    shared.workerUrl !== undefined ? resolveUrl(shared.workerUrl).href : defaultWorkerUrl();
  if (!connect(workerUrl)) return subscribe<E>(url, { ...options, shared: undefined });

  const s = ++counter;
  const policy: SharedPolicy = {
    retryOn: options.retryOn ?? [],
    maxRetries: options.maxRetries ?? Infinity,
    idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
    maxEventBytes: options.maxEventBytes,
  };
  // Whether the shared stream may be resumed after its last failure (the worker decides, with
  // subscribe()'s default policy).
  let verdict = true;
  // The worker could not start: this subscription fetches on its own, with the default policy.
  let direct = false;
  let client: Client | undefined;
  const encoder = new TextEncoder();

  const fetchShared: FetchLike = (input, init) => {
    client = connect(workerUrl);
    direct = !client || client.broken;
    if (direct) return globalFetch(input, init);
    const joined = client!;
    const headers = new Headers(init.headers);
    const lastEventId = fromByteString(headers.get('last-event-id') ?? '');
    headers.delete('accept');
    headers.delete('last-event-id');
    const request: SharedRequest = {
      url: href,
      credentials: init.credentials,
      // Sorted and lower-cased by Headers: equal requests are equal messages.
      headers: [...headers],
    };
    const a = ++counter;
    const chunks: string[] = [];
    // undefined: more to come; null: the stream ended; an error: it broke off.
    let ending: TypeError | null | undefined;
    let wake: (() => void) | undefined;
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          while (chunks.length === 0 && ending === undefined) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
          if (chunks.length > 0) controller.enqueue(encoder.encode(chunks.splice(0).join('')));
          else if (ending === null) controller.close();
          else controller.error(ending);
        },
      },
      { highWaterMark: 0 },
    );
    const end = (reason: TypeError | null): void => {
      ending ??= reason;
      wake?.();
    };
    return new Promise<Response>((resolve, reject) => {
      let opened = false;
      const settle = (message: WorkerMessage | undefined): void => {
        if (message?.t === 'open') {
          opened = true;
          resolve(rebuild(message.head, stream));
        } else if (message?.t === 'data') {
          chunks.push(message.text);
          wake?.();
        } else if (message?.t === 'warn') {
          try {
            options.onError?.(new HeraldClientError('EVENT_TOO_LARGE', message.message));
          } catch (error) {
            queueMicrotask(() => {
              throw error;
            });
          }
        } else {
          joined.attempts.delete(a);
          verdict = message?.retry ?? true;
          if (opened) end(message?.code === 'STREAM_ENDED' ? null : networkError(message));
          else if (message?.code === 'REDIRECT') {
            // The worker refused to follow a redirect with the caller's request: the same
            // error as a direct subscription's (redirect.ts), not a network error to retry.
            const { head } = message;
            const response =
              head && (head.status === 0 ? opaqueRedirect(head) : rebuild(head, null));
            reject(new HeraldClientError('REDIRECT', message.message, { response }));
          } else if (message?.head) resolve(rebuild(message.head, message.body ?? null));
          else reject(networkError(message));
        }
      };
      joined.attempts.set(a, settle);
      init.signal?.addEventListener(
        'abort',
        () => {
          if (!joined.attempts.delete(a)) return;
          joined.post({ t: 'stop', s, a });
          end(new TypeError('aborted'));
          reject(init.signal?.reason);
        },
        { once: true },
      );
      joined.post({
        t: 'attach',
        s,
        a,
        request,
        policy,
        lastEventId,
      });
    });
  };

  return subscribe<E>(url, {
    ...options,
    shared: undefined,
    fetch: fetchShared,
    // The worker watches the real connection; a quiet tab is not a dead one.
    idleTimeoutMs: 0,
    shouldRetry: (failure) =>
      direct ? !(failure instanceof Response) || policy.retryOn.includes(failure.status) : verdict,
    onClose(reason) {
      client?.post({ t: 'leave', s });
      options.onClose?.(reason);
    },
  });
}
