// The books of a multi-node run. What was published is taken from two sides and reconciled:
// the answers the publisher got (an id for each 200) and the engine's own log, read back through
// a hub node with a replay after the run's start marker. Every 200 must be in the log; a log
// entry that got no 200 must be a publish whose answer was lost mid-request (its node or the
// engine died while it was in flight: the engines document that such an append may have been
// stored). Each subscriber's ledger is then checked against that list with `account`.
import {
  ACCOUNT_COLUMNS,
  type Account,
  account,
  accountCells,
  clean,
  type Published,
  total,
} from './accounting.js';
import { compareIds } from './publisher.js';
import type { Random } from './random.js';
import { AccountingSubscriber } from './subscriber.js';
import { table } from './table.js';
import { settlesWithin } from './time.js';
import { type PublishAttempt, sequenceOf } from './tracked-publisher.js';

/** An event of the engine's log as a replay delivered it. */
export interface LogEntry {
  id: string;
  /** Its publish sequence number (`undefined` for a marker or a stranger). */
  n: number | undefined;
}

/**
 * Reads the engine's log through the node at `url`: every event after `after` up to and
 * including `until` (a replay, then live). `undefined` when `until` did not arrive in time.
 */
export async function readLog(
  url: string,
  after: string,
  until: string,
  timeoutMs = 30_000,
): Promise<LogEntry[] | undefined> {
  const log: LogEntry[] = [];
  const reader = new AccountingSubscriber({
    url,
    topics: ['*'],
    record: false,
    onEvent: (event) => log.push({ id: event.id ?? '', n: sequenceOf(event.data) }),
  });
  reader.lastEventId = after;
  try {
    await reader.connect();
    const done = await settlesWithin(
      reader.until(() => reader.lastEventId === until),
      timeoutMs,
    );
    return done ? log : undefined;
  } finally {
    reader.stop();
  }
}

/** A publish that got no 200 and yet is in the engine's log. */
export interface StoredUnanswered {
  attempt: PublishAttempt;
  /** The id the engine gave it. */
  id: string;
}

/** The publisher's answers against the engine's log. */
export interface Reconciliation {
  /** What subscribers must get, in the engine's order: the 200s, the stored-unanswered, the end marker. */
  published: Published[];
  /** Publishes answered 200. */
  accepted: number;
  /** Publishes without a 200 that the engine stored anyway. */
  storedUnanswered: StoredUnanswered[];
  /** Ids answered 200 that are not in the log (must be none). */
  missingFromLog: string[];
  /** Log entries that are no publish of ours, or a 200 stored under another id (must be none). */
  unexplained: string[];
}

/**
 * Reconciles the publisher's `attempts` with the engine's `log` (which ends with the end marker
 * `endMarker`, published to `allTopics`).
 */
export function reconcile(
  attempts: readonly PublishAttempt[],
  log: readonly LogEntry[],
  endMarker: string,
  allTopics: readonly string[],
): Reconciliation {
  const accepted = attempts.filter((a) => a.status === 200);
  const inLog = new Set(log.map((e) => e.id));
  const storedUnanswered: StoredUnanswered[] = [];
  const unexplained: string[] = [];
  const seen = new Set<number>();
  for (const entry of log) {
    if (entry.id === endMarker) continue;
    const attempt = entry.n === undefined ? undefined : attempts[entry.n];
    if (attempt === undefined || seen.has(attempt.n)) {
      unexplained.push(entry.id);
      continue;
    }
    seen.add(attempt.n);
    if (attempt.status === 200) {
      if (attempt.body !== entry.id) unexplained.push(entry.id);
    } else {
      storedUnanswered.push({ attempt, id: entry.id });
    }
  }
  const published: Published[] = [
    ...accepted.map((a) => ({ id: a.body!, topics: a.topics })),
    ...storedUnanswered.map((s) => ({ id: s.id, topics: s.attempt.topics })),
    { id: endMarker, topics: allTopics },
  ].sort((a, b) => compareIds(a.id, b.id));
  return {
    published,
    accepted: accepted.length,
    storedUnanswered,
    missingFromLog: accepted.map((a) => a.body!).filter((id) => !inLog.has(id)),
    unexplained,
  };
}

/** A subscriber of a multi-node run, with the group it is reported in. */
export interface BookedSubscriber {
  sub: AccountingSubscriber;
  topics: readonly string[];
  /** e.g. `home A`, `moved B→C→B`. */
  group: string;
}

/** Every subscriber's account, the totals, and a report table by group. */
export function audit(
  published: readonly Published[],
  subs: readonly BookedSubscriber[],
): { accounts: Account[]; sum: Account; table: string; unclean: string[] } {
  const accounts = subs.map(({ sub, topics }) =>
    account(published, { topics, received: sub.received, gaps: sub.gaps }),
  );
  const groups = [...new Set(subs.map((s) => s.group))];
  const rows = groups.map((group) => {
    const members = subs.flatMap((s, i) => (s.group === group ? [i] : []));
    const sum = total(members.map((i) => accounts[i]!));
    const conns = members.reduce((n, i) => n + subs[i]!.sub.connections, 0);
    return [group, members.length, conns - members.length, ...accountCells(sum)];
  });
  const sum = total(accounts);
  rows.push([
    'all',
    subs.length,
    subs.reduce((n, s) => n + s.sub.connections, 0) - subs.length,
    ...accountCells(sum),
  ]);
  const unclean = accounts.flatMap((a, i) =>
    clean(a)
      ? []
      : [`#${i} (${subs[i]!.group}, ${subs[i]!.topics.join(',')}): ${a.examples.join('; ')}`],
  );
  return {
    accounts,
    sum,
    unclean,
    table: table(['subscribers', 'n', 'reconnects', ...ACCOUNT_COLUMNS], rows),
  };
}

/** Selectors for a subscriber: `*` (1 in 5), one topic (1 in 2), or two. */
export function pickSelectors(rand: Random, topics: readonly string[]): string[] {
  const r = rand.next();
  if (r < 0.2) return ['*'];
  if (r < 0.7) return [rand.pick(topics)];
  return [...new Set([rand.pick(topics), rand.pick(topics)])];
}

/** Milliseconds as text, e.g. `412 ms`, `n/a`. */
export function ms(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : `${Math.round(value)} ms`;
}
