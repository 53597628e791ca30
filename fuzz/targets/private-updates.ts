// Fuzz target: private updates never reach an unauthorised subscriber. Random subscribers
// (selectors, and a token whose `mercure.subscribe` claim is random — or no token, or a token
// without the claim) and random updates (topics, private or not) on a real hub; each subscriber,
// live and replaying with Last-Event-ID, must receive exactly what a model of Mercure's rules
// gives — by a match table written from RFC 6570 by hand, not by Herald's matcher:
//   delivered ⇔ a selector matches one of the update's topics
//              ∧ (public ∨ a `mercure.subscribe` selector matches one of its topics)
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { type HubHandle, startLocalHub } from '../../chaos/lib/hub.js';
import { send } from '../lib/http.js';
import { type Watcher, watch } from '../lib/watcher.js';
import type { FuzzSession, FuzzTarget } from '../target.js';

const SECRET = 'fuzz-private-secret-of-at-least-32-bytes!!';
const MARKER = '/fuzz/marker';

/** The topics updates go to. */
export const UNIVERSE = [
  '/books/1',
  '/books/2',
  '/books/1/reviews',
  '/authors/ada',
  'https://example.com/books/1',
  '/chat/lobby',
  '/chat/secret',
] as const;

/** Selectors, with the topics of UNIVERSE each one matches (RFC 6570, worked out by hand). */
export const MATCHES: Record<string, readonly string[]> = {
  '*': UNIVERSE,
  '/books/1': ['/books/1'],
  '/books/2': ['/books/2'],
  '/books/1/reviews': ['/books/1/reviews'],
  '/authors/ada': ['/authors/ada'],
  'https://example.com/books/1': ['https://example.com/books/1'],
  '/chat/lobby': ['/chat/lobby'],
  '/chat/secret': ['/chat/secret'],
  // {id} expands without "/": one path segment.
  '/books/{id}': ['/books/1', '/books/2'],
  '/books/{id}/reviews': ['/books/1/reviews'],
  // {/name} is "/" plus one segment.
  '/authors{/name}': ['/authors/ada'],
  '/books{/id}': ['/books/1', '/books/2'],
  '/books/{id}{/rest}': ['/books/1', '/books/2', '/books/1/reviews'],
  'https://example.com/books/{id}': ['https://example.com/books/1'],
  '/chat/{room}': ['/chat/lobby', '/chat/secret'],
  // {+path} keeps reserved characters: any of these topics.
  '{+path}': UNIVERSE,
  // {path} would percent-encode "/": none of these topics.
  '{path}': [],
  // Not a valid template: an exact string, matching nothing here.
  '/chat/{room': [],
  '/nothing': [],
  // Case matters; no normalization.
  '/Books/1': [],
  'https://example.com/books/1/': [],
};
const SELECTORS = Object.keys(MATCHES);

const matches = (selectors: readonly string[], topics: readonly string[]): boolean =>
  selectors.some((s) => topics.some((t) => MATCHES[s]!.includes(t)));

type Access = { kind: 'anonymous' } | { kind: 'no-claim' } | { kind: 'claim'; subscribe: string[] };

const subscriber = fc.record({
  selectors: fc.uniqueArray(fc.constantFrom(...SELECTORS), { minLength: 1, maxLength: 3 }),
  access: fc.oneof(
    { weight: 1, arbitrary: fc.constant<Access>({ kind: 'anonymous' }) },
    { weight: 1, arbitrary: fc.constant<Access>({ kind: 'no-claim' }) },
    {
      weight: 4,
      arbitrary: fc
        .uniqueArray(fc.constantFrom(...SELECTORS), { maxLength: 3 })
        .map((subscribe): Access => ({ kind: 'claim', subscribe })),
    },
  ),
});
const update = fc.record({
  topics: fc.uniqueArray(fc.constantFrom(...UNIVERSE), { minLength: 1, maxLength: 2 }),
  private: fc.boolean(),
});

export const privateUpdatesTarget: FuzzTarget = {
  name: 'private-updates',
  summary:
    'random subscribers (selectors × subscribe claims × anonymous) and updates: each gets exactly what Mercure’s rules allow, live and on replay',
  cost: 200,
  async setup(): Promise<FuzzSession> {
    const hub: HubHandle = await startLocalHub(['--jwt-key', SECRET, '--anonymous']);
    const sign = (payload: Record<string, unknown>): Promise<string> =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(SECRET));
    const publisher = await sign({ mercure: { publish: ['*'] } });
    const publish = async (topics: readonly string[], priv: boolean, data: string) => {
      const form = new URLSearchParams();
      for (const t of topics) form.append('topic', t);
      form.set('data', data);
      if (priv) form.set('private', 'on');
      const answer = await send(`${hub.url}/.well-known/mercure`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${publisher}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
      });
      if (answer.status !== 200)
        throw new Error(`publish refused: ${answer.status} ${answer.body}`);
      return answer.body;
    };
    let runs = 0;
    let deliveries = 0;
    let privateChecks = 0;

    const property = fc.asyncProperty(
      fc.array(subscriber, { minLength: 1, maxLength: 3 }),
      fc.array(update, { minLength: 1, maxLength: 8 }),
      async (subscribers, updates) => {
        runs++;
        const tokens = await Promise.all(
          subscribers.map(({ access }) =>
            access.kind === 'anonymous'
              ? undefined
              : sign(
                  access.kind === 'claim'
                    ? { mercure: { subscribe: access.subscribe } }
                    : { mercure: { publish: ['/elsewhere'] } },
                ),
          ),
        );
        const open = (i: number, lastEventId?: string): Promise<Watcher> =>
          watch(hub.url, tokens[i], [...subscribers[i]!.selectors, MARKER], lastEventId);
        const start = await publish([MARKER], false, 'start');
        const live = await Promise.all(subscribers.map((_, i) => open(i)));
        const ids: string[] = [];
        for (const [n, u] of updates.entries())
          ids.push(await publish(u.topics, u.private, `u${n}`));
        const end = await publish([MARKER], false, 'end');
        const replayed = await Promise.all(subscribers.map((_, i) => open(i, start)));
        try {
          for (const [i, s] of subscribers.entries()) {
            const claim = s.access.kind === 'claim' ? s.access.subscribe : [];
            const want = updates
              .map((u, n) => ({ u, id: ids[n]! }))
              .filter(
                ({ u }) =>
                  matches(s.selectors, u.topics) && (!u.private || matches(claim, u.topics)),
              )
              .map(({ id }) => id);
            privateChecks += updates.filter(
              (u) => u.private && matches(s.selectors, u.topics),
            ).length;
            for (const [how, w] of [
              ['live', live[i]!],
              ['replayed', replayed[i]!],
            ] as const) {
              await w.waitFor(end);
              const got = w.events
                .map((e) => e.id ?? '')
                .filter((id) => id !== start && id !== end);
              deliveries += got.length;
              if (JSON.stringify(got) !== JSON.stringify(want)) {
                throw new Error(
                  `${how} subscriber ${JSON.stringify(s)} got ${JSON.stringify(got)}, expected ${JSON.stringify(want)} (updates ${JSON.stringify(updates.map((u, n) => ({ ...u, id: ids[n] })))})`,
                );
              }
            }
          }
        } finally {
          for (const w of [...live, ...replayed]) w.close();
        }
        return true;
      },
    );
    return {
      property: property as fc.IRawProperty<unknown>,
      stats: () => ({ runs, deliveries, privateChecks }),
      teardown: () => hub.close(),
    };
  },
};
