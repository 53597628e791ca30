// Exact accounting: what each subscriber should have received (every published event one of its
// selectors matches, in the hub's order) against what it did receive, across all its
// reconnections. A loss is excused only when the hub announced it with a `herald.gap` covering
// exactly that stretch (the client's last id had left the bounded history).
import type { GapRecord } from './subscriber.js';

/** An event the harness published, as the hub answered it. */
export interface Published {
  /** The id the hub answered with. */
  id: string;
  /** Its topics. */
  topics: readonly string[];
  /** Whether it was a private update. */
  private?: boolean;
}

/** One subscriber's figures. */
export interface Account {
  /** Events it should have received. */
  expected: number;
  /** Events it received (duplicates included). */
  received: number;
  /** Expected events never received and not covered by a gap. */
  lost: number;
  /** Expected events never received, inside the stretch a `herald.gap` announced. */
  lostInGap: number;
  /** Events received more than once (each extra copy counts). */
  duplicated: number;
  /** Events received after one that the hub ordered later. */
  outOfOrder: number;
  /** Events received that it should never have got (not published, or not matching / allowed). */
  unexpected: number;
  /** `herald.gap` events received. */
  gaps: number;
  /** A few of the offending ids, for the report. */
  examples: string[];
}

/** The table columns {@link accountCells} fills, in its order. */
export const ACCOUNT_COLUMNS = [
  'expected',
  'received',
  'lost',
  'dup',
  'order',
  'leak',
  'gaps',
  'in gap',
];

/** An account's figures as table cells, in the order of {@link ACCOUNT_COLUMNS}. */
export function accountCells(a: Account): number[] {
  return [
    a.expected,
    a.received,
    a.lost,
    a.duplicated,
    a.outOfOrder,
    a.unexpected,
    a.gaps,
    a.lostInGap,
  ];
}

/** What a subscriber says it received. */
export interface Ledger {
  /** Selectors: exact topics or `*` (the harness uses no templates here). */
  topics: readonly string[];
  /** Private updates of these topics are allowed (its token's `mercure.subscribe`). */
  authorized?: readonly string[];
  /** Ids in arrival order. */
  received: readonly string[];
  /** Gaps, with their position in `received`. */
  gaps: readonly GapRecord[];
}

function matches(selectors: readonly string[], topics: readonly string[]): boolean {
  return selectors.includes('*') || topics.some((topic) => selectors.includes(topic));
}

/**
 * Compares one subscriber's ledger with what was published.
 * @param published - every published event, in the hub's order (the engine's)
 */
export function account(published: readonly Published[], ledger: Ledger): Account {
  const position = new Map<string, number>();
  published.forEach((event, i) => {
    position.set(event.id, i);
  });
  const wanted = (event: Published): boolean =>
    matches(ledger.topics, event.topics) &&
    (event.private !== true || matches(ledger.authorized ?? [], event.topics));

  const result: Account = {
    expected: 0,
    received: ledger.received.length,
    lost: 0,
    lostInGap: 0,
    duplicated: 0,
    outOfOrder: 0,
    unexpected: 0,
    gaps: ledger.gaps.length,
    examples: [],
  };
  const note = (what: string): void => {
    if (result.examples.length < 5) result.examples.push(what);
  };

  const seen = new Set<string>();
  let previous = -1;
  for (const id of ledger.received) {
    const at = position.get(id);
    if (at === undefined || !wanted(published[at]!)) {
      result.unexpected++;
      note(`unexpected ${id}`);
      continue;
    }
    if (seen.has(id)) {
      result.duplicated++;
      note(`duplicate ${id}`);
    } else {
      seen.add(id);
    }
    if (at < previous) {
      result.outOfOrder++;
      note(`out of order ${id}`);
    }
    previous = Math.max(previous, at);
  }

  // The stretches gaps excuse: after the id the client asked for, before the first id it
  // received after the gap (the hub replays from its oldest retained event).
  const excused: Array<[number, number]> = ledger.gaps.map((gap) => {
    const from = position.get(gap.lastEventId) ?? -1;
    const next = ledger.received[gap.at];
    const to = next === undefined ? published.length : (position.get(next) ?? published.length);
    return [from, to];
  });
  published.forEach((event, i) => {
    if (!wanted(event)) return;
    result.expected++;
    if (seen.has(event.id)) return;
    if (excused.some(([from, to]) => i > from && i < to)) {
      result.lostInGap++;
    } else {
      result.lost++;
      note(`lost ${event.id}`);
    }
  });
  return result;
}

/** Whether an account is clean: nothing lost outside a gap, duplicated, reordered or leaked. */
export function clean(a: Account): boolean {
  return a.lost === 0 && a.duplicated === 0 && a.outOfOrder === 0 && a.unexpected === 0;
}

/** Sums accounts (for a totals line). */
export function total(accounts: readonly Account[]): Account {
  const sum: Account = {
    expected: 0,
    received: 0,
    lost: 0,
    lostInGap: 0,
    duplicated: 0,
    outOfOrder: 0,
    unexpected: 0,
    gaps: 0,
    examples: [],
  };
  for (const a of accounts) {
    sum.expected += a.expected;
    sum.received += a.received;
    sum.lost += a.lost;
    sum.lostInGap += a.lostInGap;
    sum.duplicated += a.duplicated;
    sum.outOfOrder += a.outOfOrder;
    sum.unexpected += a.unexpected;
    sum.gaps += a.gaps;
    sum.examples.push(...a.examples.slice(0, 5 - Math.min(5, sum.examples.length)));
  }
  return sum;
}
