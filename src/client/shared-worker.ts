import type { ParsedEvent } from '../protocol/index.js';
import { type Connection, openConnection } from './connection.js';
import type { HeraldClientError } from './errors.js';
import { fetchGuarded } from './redirect.js';
import { readRefusal } from './refusal.js';
import { globalFetch, streamHeaders } from './request.js';
import { systemTimers } from './timers.js';

// The SharedWorker of `subscribe(url, { shared: true })`: one real connection per group of tab
// subscriptions with the same request (a GET of one URL, credentials mode, headers) and the
// same connection options, fanned out to every tab's MessagePort. The tabs keep their own
// pipelines (event types, JSON, schemas, dedupe, listeners) and their own backoff: after a
// failure this worker waits for the first tab to come back, then resumes the stream with
// Last-Event-ID, so each tab gets every event once. The worker follows the rules of a direct
// subscription: redirects are followed by hand (redirect.ts) when the request carries something
// of the caller's, and a refused response's first bytes go to the tabs, whose own reading of
// them (refusal.ts) gives the server's reason.

/** The connection options that shape the shared stream (part of the group's key). */
export interface SharedPolicy {
  /** Statuses retried instead of failing. */
  retryOn: readonly number[];
  /** Consecutive failed attempts before giving up. */
  maxRetries: number;
  /** The heartbeat watchdog, in ms; 0 is off. */
  idleTimeoutMs: number;
  /** Bound of one event. */
  maxEventBytes: number | undefined;
}

/** The request of a shared stream: everything that decides who may share it. */
export interface SharedRequest {
  /** The absolute URL. */
  url: string;
  /** Fetch's credentials mode. */
  credentials: RequestCredentials | undefined;
  /** The caller's headers, lower-cased and sorted (no `Accept`, no `Last-Event-ID`). */
  headers: [string, string][];
}

/** What a tab sends to the worker. */
export type TabMessage =
  /** The tab is here; with `lock`, the worker watches the tab's Web Lock of that name. */
  | { t: 'hello'; lock: string | undefined }
  /** Subscription `s` starts attempt `a`, resuming after `lastEventId`. */
  | {
      t: 'attach';
      s: number;
      a: number;
      request: SharedRequest;
      policy: SharedPolicy;
      lastEventId: string;
    }
  /** Attempt `a` of subscription `s` was aborted (the tab paused or closed it). */
  | { t: 'stop'; s: number; a: number }
  /** Subscription `s` ended for good. */
  | { t: 'leave'; s: number }
  /** The tab goes away (`pagehide`): all of its subscriptions end. */
  | { t: 'bye' }
  /** The tab is alive (only tabs without Web Locks send it). */
  | { t: 'ping' };

/** A response's status line and headers, as a tab rebuilds it. */
export interface ResponseHead {
  /** The status. */
  status: number;
  /** The status text. */
  statusText: string;
  /** The headers. */
  headers: [string, string][];
  /** The final URL (after redirects). */
  url: string;
}

/** What the worker sends to a tab, about attempt `a`. */
export type WorkerMessage =
  /** The stream opened. */
  | { t: 'open'; a: number; head: ResponseHead }
  /** Event stream text (events re-encoded, `retry:` fields). */
  | { t: 'data'; a: number; text: string }
  /** An event was too large and dropped. */
  | { t: 'warn'; a: number; message: string }
  /**
   * The attempt failed: `code` is the `HeraldClientError` code, `head` the refused response
   * (`body`: the first bytes of its body, as much as a refusal's reason is read from), `retry`
   * whether the shared stream may be resumed (false: it gave up).
   */
  | {
      t: 'fail';
      a: number;
      code: string;
      message: string;
      head?: ResponseHead;
      body?: Uint8Array<ArrayBuffer>;
      retry: boolean;
    };

/** A {@link WorkerMessage} before it is addressed to an attempt. */
type Unaddressed = WorkerMessage extends infer M
  ? M extends unknown
    ? Omit<M, 'a'>
    : never
  : never;

/** A tab's subscription in a group. */
interface Member {
  port: MessagePort;
  s: number;
  /** The current attempt, while the tab waits for or reads the stream. */
  a: number | undefined;
  /** Events it missed, sent after the next `open`. */
  pending: string;
  group: Group;
}

/** One real connection and the tab subscriptions that read it. */
interface Group {
  key: string;
  connection: Connection;
  members: Set<Member>;
  /** Recent events (for tabs that resume a little behind), after the id `base`. */
  buffer: { id: string; text: string }[];
  base: string;
  head: ResponseHead | undefined;
  failures: number;
  verdict: boolean;
  /** The first bytes of the body of the response the connection just refused. */
  refused: Uint8Array<ArrayBuffer> | undefined;
}

/** How many recent events a group keeps for tabs that resume behind it. */
export const SHARED_BUFFER = 1000;

/** The event stream text of one parsed event (ids always written, so each tab's parser agrees). */
export function encodeParsed(event: ParsedEvent): string {
  let text = `event: ${event.type}\n`;
  for (const line of event.data.split('\n')) text += `data: ${line}\n`;
  return `${text}id: ${event.lastEventId}\n\n`;
}

/** The minimal `SharedWorkerGlobalScope` this worker uses. */
export interface SharedScope {
  /** Called with each tab's connection. */
  onconnect: ((event: MessageEvent) => void) | null;
  /** The worker's navigator (Web Locks, when present). */
  navigator?: { locks?: LockManager };
}

/**
 * How long a tab without Web Locks may stay silent before it counts as gone, in ms: above the
 * minute to which browsers throttle the timers of pages hidden for long.
 */
const PING_LIMIT_MS = 150_000;

/**
 * Serves tabs in a `SharedWorkerGlobalScope`: groups their subscriptions by key, keeps one
 * connection per group, closes it when the group's last subscription leaves.
 *
 * @param scope - the worker's global scope
 */
export function serveTabs(scope: SharedScope): void {
  const groups = new Map<string, Set<Group>>();
  const ports = new Map<MessagePort, Map<number, Member>>();
  const pinged = new Map<MessagePort, number>();
  let sweeping = false;

  const send = (member: Member, message: Unaddressed): void => {
    if (member.a !== undefined) {
      member.port.postMessage({ ...message, a: member.a });
    }
  };

  const head = (response: Response): ResponseHead => ({
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    url: response.url,
  });

  const drop = (group: Group): void => {
    group.connection.close();
    const set = groups.get(group.key);
    set?.delete(group);
    if (set?.size === 0) groups.delete(group.key);
  };

  const leave = (member: Member): void => {
    ports.get(member.port)?.delete(member.s);
    const { group } = member;
    group.members.delete(member);
    // The last subscription left: the shared stream is closed.
    if (group.members.size === 0) drop(group);
    else idleCheck(group);
  };

  // No tab is waiting for or reading the stream (all paused, or all between attempts after a
  // failure): stop it, keeping its position, until one comes back.
  const idleCheck = (group: Group): void => {
    for (const member of group.members) if (member.a !== undefined) return;
    group.head = undefined;
    group.connection.pause();
  };

  const create = (
    key: string,
    request: SharedRequest,
    policy: SharedPolicy,
    lastEventId: string,
  ): Group => {
    const group: Group = {
      key,
      members: new Set(),
      buffer: [],
      base: lastEventId,
      head: undefined,
      failures: 0,
      verdict: true,
      refused: undefined,
      connection: undefined as unknown as Connection,
    };
    const each = (message: Unaddressed): void => {
      for (const member of group.members) send(member, message);
    };
    group.connection = openConnection({
      url: request.url,
      fetch: globalFetch,
      // As subscribe() does: headers and cookies are given for the URL's origin, so redirects
      // are followed by hand and none of them reaches another origin (in a browser, which hides
      // where a redirect leads, such a redirect fails with REDIRECT).
      guard:
        request.headers.length > 0 || request.credentials === 'include' ? fetchGuarded : undefined,
      // The reason is the tabs' to read (each one's error says it): they get the bytes.
      async explain(response, timers) {
        group.refused = response.body ? await readRefusal(response.body, timers) : undefined;
        return undefined;
      },
      timers: systemTimers,
      lastEventId,
      idleTimeoutMs: policy.idleTimeoutMs,
      maxEventBytes: policy.maxEventBytes,
      init: (id) => ({
        credentials: request.credentials,
        cache: 'no-store',
        headers: streamHeaders(id, request.headers),
      }),
      decide(error: HeraldClientError) {
        // subscribe()'s default policy (shouldRetry stays in the tabs, which cannot send it).
        const status = error.response?.status;
        group.verdict =
          error.code !== 'UNSUPPORTED_URL' &&
          (status === undefined ||
            (error.code === 'BAD_STATUS' && policy.retryOn.includes(status))) &&
          ++group.failures <= policy.maxRetries;
        // The tabs back off and come back; the first one resumes the stream.
        return group.verdict ? 0 : -1;
      },
      onRetry: (ms) => each({ t: 'data', text: `retry: ${ms}\n\n` }),
      onOpen(response) {
        group.failures = 0;
        group.head = head(response);
        for (const member of group.members) {
          send(member, { t: 'open', head: group.head });
          if (member.pending) send(member, { t: 'data', text: member.pending });
          member.pending = '';
        }
      },
      onEvent(event) {
        const text = encodeParsed(event);
        group.buffer.push({ id: event.lastEventId, text });
        if (group.buffer.length > SHARED_BUFFER) group.base = group.buffer.shift()!.id;
        each({ t: 'data', text });
      },
      onError(error) {
        group.head = undefined;
        const response = error.response;
        const body = response && group.refused?.length ? group.refused : undefined;
        group.refused = undefined;
        const message: Unaddressed = {
          t: 'fail',
          code: error.code,
          message: error.message,
          head: response && head(response),
          body,
          retry: group.verdict,
        };
        for (const member of group.members) {
          send(member, message);
          member.a = undefined;
        }
        if (group.verdict) group.connection.pause();
        else {
          for (const member of group.members) ports.get(member.port)?.delete(member.s);
          drop(group);
        }
      },
      onTooLarge: (error) => each({ t: 'warn', message: error.message }),
    });
    const set = groups.get(key) ?? new Set();
    groups.set(key, set);
    set.add(group);
    return group;
  };

  /** The events a tab that resumes after `lastEventId` missed, or `undefined` if unknown here. */
  const missed = (group: Group, lastEventId: string): string[] | undefined => {
    // A new subscription without an id reads from now on, as it would on its own connection.
    if (lastEventId === '') return [];
    const { buffer } = group;
    for (let i = buffer.length - 1; i >= 0; i--) {
      if (buffer[i]!.id === lastEventId) return buffer.slice(i + 1).map((entry) => entry.text);
    }
    return group.base === lastEventId ? buffer.map((entry) => entry.text) : undefined;
  };

  const attach = (port: MessagePort, message: Extract<TabMessage, { t: 'attach' }>): void => {
    const { s, a, lastEventId } = message;
    // Who shares is decided here, from what will be sent, never from a name a tab gives.
    const key = JSON.stringify([
      message.request.url,
      message.request.credentials ?? null,
      message.request.headers,
      message.policy.retryOn,
      message.policy.maxRetries,
      message.policy.idleTimeoutMs,
      message.policy.maxEventBytes ?? null,
    ]);
    const members = ports.get(port);
    if (!members) return;
    let member = members.get(s);
    let replay = member && member.group.key === key ? missed(member.group, lastEventId) : undefined;
    if (member && !replay) leave(member);
    if (!member || !replay) {
      let group: Group | undefined;
      for (const candidate of groups.get(key) ?? []) {
        replay = missed(candidate, lastEventId);
        if (replay) {
          group = candidate;
          break;
        }
      }
      if (!group) {
        group = create(key, message.request, message.policy, lastEventId);
        replay = [];
      }
      member = { port, s, a: undefined, pending: '', group };
      group.members.add(member);
      members.set(s, member);
    }
    member.a = a;
    member.pending = replay!.join('');
    const { group } = member;
    if (group.head) {
      send(member, { t: 'open', head: group.head });
      if (member.pending) send(member, { t: 'data', text: member.pending });
      member.pending = '';
    } else group.connection.resume();
  };

  const gone = (port: MessagePort): void => {
    for (const member of ports.get(port)?.values() ?? []) {
      // Heard by a tab that was only silent (timers of hidden pages are throttled): its
      // attempt fails and its retry attaches again.
      send(member, {
        t: 'fail',
        code: 'NETWORK',
        message: 'the shared worker had not heard from this tab',
        retry: true,
      });
      leave(member);
    }
    ports.delete(port);
    pinged.delete(port);
  };

  scope.onconnect = (event) => {
    const port = event.ports[0]!;
    ports.set(port, new Map());
    port.onmessage = ({ data }: MessageEvent<TabMessage>) => {
      if (data.t === 'bye') {
        gone(port);
        port.close();
        return;
      }
      // A tab counted as gone that speaks again was only silent: it is back.
      if (!ports.has(port) && (data.t === 'attach' || data.t === 'ping')) {
        ports.set(port, new Map());
      }
      if (!ports.has(port)) return;
      switch (data.t) {
        case 'hello':
          if (data.lock && scope.navigator?.locks) {
            // The tab holds this lock for its lifetime: the worker's request is granted when
            // the tab is gone, even if it closed without notice (a crash, a killed process).
            scope.navigator.locks.request(data.lock, () => gone(port)).catch(() => {});
          } else {
            pinged.set(port, Date.now());
            if (!sweeping) {
              sweeping = true;
              setInterval(() => {
                for (const [silent, at] of pinged) {
                  if (Date.now() - at > PING_LIMIT_MS) gone(silent);
                }
              }, PING_LIMIT_MS / 10);
            }
          }
          break;
        case 'ping':
          pinged.set(port, Date.now());
          break;
        case 'attach':
          attach(port, data);
          break;
        case 'stop': {
          const member = ports.get(port)?.get(data.s);
          if (member && member.a === data.a) {
            member.a = undefined;
            idleCheck(member.group);
          }
          break;
        }
        case 'leave': {
          const member = ports.get(port)?.get(data.s);
          if (member) leave(member);
          break;
        }
      }
    };
  };
}

// Started when this file is a SharedWorker's script.
const Scope = (globalThis as { SharedWorkerGlobalScope?: new () => unknown })
  .SharedWorkerGlobalScope;
if (typeof Scope === 'function' && globalThis instanceof Scope) {
  serveTabs(globalThis as unknown as SharedScope);
}
