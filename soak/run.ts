// `npm run soak -- --minutes N`: churn of connects and disconnects plus steady publishing (and a
// trickle of bad requests) against a hub in its own process, for N minutes. Samples the hub's
// RSS, V8 heap (after a full GC), active handles (process.getActiveResourcesInfo()) and open
// file descriptors (/proc/self/fd) over time, prints them as a table, and fits a line through
// the second half of the run: each figure must grow by less than 5% over that half (PASS/FAIL).
// A sample of the subscribers also keeps exact books (lost / duplicated / out of order).
//
//   npm run soak -- --minutes 10
//   npm run soak -- --minutes 2 --subscribers 300 --rate 100 --seed 7
//
// Exit code 0 when every figure passes and the books are clean, 1 otherwise.
import { parseArgs } from 'node:util';
import { account, clean, total } from '../chaos/lib/accounting.js';
import { spawnHub } from '../chaos/lib/hub.js';
import { SteadyPublisher } from '../chaos/lib/publisher.js';
import { seeded } from '../chaos/lib/random.js';
import type { ProcessSample } from '../chaos/lib/sample.js';
import { AccountingSubscriber } from '../chaos/lib/subscriber.js';
import { mib, table } from '../chaos/lib/table.js';
import { settlesWithin, sleep } from '../chaos/lib/time.js';
import { KEY_FLAGS, publisherToken, sign } from '../chaos/lib/tokens.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    subscribers: { type: 'string', default: '200' },
    rate: { type: 'string', default: '50' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: npm run soak -- [--minutes N] [--subscribers N] [--rate per-second] [--seed n]\n',
  );
  process.exit(0);
}
const minutes = Number(values.minutes);
const slots = Number(values.subscribers);
const rate = Number(values.rate);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!(minutes > 0 && slots > 0 && rate > 0)) {
  process.stderr.write('soak: --minutes, --subscribers and --rate take positive numbers\n');
  process.exit(2);
}
const durationMs = minutes * 60_000;
const sampleEveryMs = Math.max(2000, Math.round(durationMs / 40));
// History fills within the first tenth of the run, so its growth is over by the second half.
const history = Math.max(100, Math.min(10_000, Math.round((rate * durationMs) / 1000 / 10)));
const TOPICS = ['/soak/a', '/soak/b', '/soak/c', '/soak/d'];
/** Subscribers that keep exact books (the others only count, to keep the harness light). */
const BOOKKEEPERS = Math.min(20, slots);

const rand = seeded(seed);
process.stdout.write(
  `Herald soak — ${minutes} min, ${slots} churning subscribers, ${rate} publishes/s, history ${history} events, seed ${seed}\n` +
    `node ${process.version}, ${process.platform}/${process.arch}; sampling every ${sampleEveryMs / 1000} s\n\n`,
);

const hub = await spawnHub([
  ...KEY_FLAGS,
  '--anonymous',
  '--max-connections-per-ip',
  '0',
  '--history-size',
  String(history),
  '--heartbeat',
  '2s',
]);
const token = await publisherToken();
const forged = await sign({ publish: ['*'] }, {}, 'a-secret-that-is-not-the-hub-secret-at-all');
const initial = await hub.sample(true);

// A first update, so that every stream starts after a known id.
await fetch(`${hub.url}/.well-known/mercure`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}` },
  body: new URLSearchParams({ topic: TOPICS[0]!, data: 'start' }),
}).then((res) => res.text());

// Churn: every slot holds one subscriber that lives 0.2–3 s, drops, and is back within 50 ms.
let running = true;
let reconnects = 0;
const subscribers = Array.from({ length: slots }, (_, i) => {
  const selectors = rand.chance(0.25) ? ['*'] : [rand.pick(TOPICS)];
  return {
    selectors,
    sub: new AccountingSubscriber({
      url: hub.url,
      topics: selectors,
      record: i < BOOKKEEPERS,
      resumeViaQuery: () => rand.chance(0.3),
    }),
  };
});
// Everyone is subscribed before the first update: what is published from then on is owed.
for (let i = 0; i < subscribers.length; i += 50) {
  await Promise.all(subscribers.slice(i, i + 50).map(({ sub }) => sub.connect()));
}
const churn = subscribers.map(async ({ sub }) => {
  while (running) {
    await sleep(rand.int(200, 3000));
    if (!running) break;
    sub.drop();
    reconnects++;
    await sleep(rand.int(0, 50));
    await sub.connect();
  }
});

const publisher = new SteadyPublisher({
  url: hub.url,
  token,
  rate,
  next: (n) => ({
    topics: rand.chance(0.1) ? [rand.pick(TOPICS), rand.pick(TOPICS)] : [rand.pick(TOPICS)],
    data: JSON.stringify({ n, pad: 'x'.repeat(rand.int(0, 300)) }),
  }),
});
publisher.start();

// A trickle of requests the hub refuses: their error paths must not leak either.
let refusals = 0;
const bad = setInterval(() => {
  const kind = rand.int(0, 2);
  const request =
    kind === 0
      ? fetch(`${hub.url}/.well-known/mercure`, {
          method: 'POST',
          headers: { authorization: `Bearer ${forged}` },
          body: new URLSearchParams({ topic: '/x', data: 'forged' }),
        })
      : kind === 1
        ? fetch(`${hub.url}/.well-known/mercure`)
        : fetch(`${hub.url}/.well-known/mercure`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
            body: new URLSearchParams({ topic: '/x', data: 'x'.repeat(2 * 1024 * 1024) }),
          });
  request.then(
    (res) => {
      refusals++;
      return res.body?.cancel();
    },
    () => {},
  );
}, 500);

// Sampling.
interface Row extends ProcessSample {
  minute: number;
  connections: number;
  published: number;
}
const rows: Row[] = [];
const started = Date.now();
const takeSample = async (): Promise<void> => {
  const s = await hub.sample(true);
  const connections = (await hub.metrics()).get('herald_connections') ?? -1;
  rows.push({
    ...s,
    minute: (s.at - started) / 60_000,
    connections,
    published: publisher.accepted.length,
  });
  const last = rows.at(-1)!;
  process.stderr.write(
    `  … ${last.minute.toFixed(1)} min: RSS ${mib(last.rss)} MiB, heap ${mib(last.heapUsed)} MiB, handles ${last.handles}, fds ${last.fds}, connections ${last.connections}\n`,
  );
};
while (Date.now() - started < durationMs) {
  await sleep(Math.min(sampleEveryMs, durationMs - (Date.now() - started)));
  await takeSample();
}

// Wind down: stop churning and publishing, then settle the books.
running = false;
clearInterval(bad);
await publisher.stop();
await Promise.all(churn);
for (const { sub } of subscribers) if (!sub.open) await sub.connect();
const markerRes = await fetch(`${hub.url}/.well-known/mercure`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}` },
  body: new URLSearchParams([...TOPICS.map((t) => ['topic', t]), ['data', 'end']]),
});
const marker = await markerRes.text();
const books = subscribers.slice(0, BOOKKEEPERS);
await settlesWithin(
  Promise.all(books.map(({ sub }) => sub.until(() => sub.lastEventId === marker))),
  30_000,
);
const published = [...publisher.ordered(), { id: marker, topics: TOPICS }];
const accounts = books.map(({ sub, selectors }) =>
  account(published, { topics: selectors, received: sub.received, gaps: sub.gaps }),
);
const sum = total(accounts);
for (const { sub } of subscribers) sub.stop();
await sleep(1000);
const idle = await hub.sample(true);
const idleConnections = (await hub.metrics()).get('herald_connections') ?? -1;
await hub.close();

// The table.
process.stdout.write(
  `${table(
    ['minute', 'RSS MiB', 'heap MiB', 'external MiB', 'handles', 'fds', 'connections', 'published'],
    rows.map((r) => [
      r.minute.toFixed(1),
      mib(r.rss),
      mib(r.heapUsed),
      mib(r.external),
      r.handles,
      r.fds,
      r.connections,
      r.published,
    ]),
  )}\n\n`,
);

/** Growth over the second half, in %: a least-squares line, its rise over its start value. */
function growth(field: (r: Row) => number): { pct: number; from: number; to: number } {
  const half = rows.filter((r) => r.minute >= minutes / 2);
  const xs = half.map((r) => r.minute);
  const ys = half.map(field);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  const from = my + slope * (xs[0]! - mx);
  const to = my + slope * (xs[n - 1]! - mx);
  return { pct: from === 0 ? 0 : ((to - from) / from) * 100, from, to };
}

let failed = 0;
const verdicts: Array<[string, ReturnType<typeof growth>, (v: number) => string]> = [
  ['RSS', growth((r) => r.rss), (v) => `${mib(v)} MiB`],
  ['heap (after GC)', growth((r) => r.heapUsed), (v) => `${mib(v)} MiB`],
  ['active handles', growth((r) => r.handles), (v) => v.toFixed(0)],
  ['open fds', growth((r) => r.fds), (v) => v.toFixed(0)],
];
process.stdout.write('growth over the second half (least-squares line through its samples):\n');
for (const [name, g, show] of verdicts) {
  const ok = g.pct < 5;
  if (!ok) failed++;
  process.stdout.write(
    `${ok ? 'PASS' : 'FAIL'}  ${name.padEnd(16)} ${g.pct >= 0 ? '+' : ''}${g.pct.toFixed(2)}%  (${show(g.from)} → ${show(g.to)})\n`,
  );
}
const elapsed = (Date.now() - started) / 1000;
const booksOk = accounts.every(clean) && sum.lostInGap === 0;
if (!booksOk) failed++;
process.stdout.write(
  `${booksOk ? 'PASS' : 'FAIL'}  books of ${BOOKKEEPERS} subscribers: expected ${sum.expected}, received ${sum.received}, lost ${sum.lost}, in gaps ${sum.lostInGap}, duplicated ${sum.duplicated}, out of order ${sum.outOfOrder}, unexpected ${sum.unexpected}${sum.examples.length > 0 ? ` (${sum.examples.join('; ')})` : ''}\n`,
);
const leftOk = idleConnections === 0;
if (!leftOk) failed++;
process.stdout.write(
  `${leftOk ? 'PASS' : 'FAIL'}  after every client left: connections ${idleConnections}; handles ${idle.handles} (at start ${initial.handles}), fds ${idle.fds} (at start ${initial.fds}), RSS ${mib(idle.rss)} MiB (at start ${mib(initial.rss)})\n`,
);
process.stdout.write(
  `\n${publisher.accepted.length} updates published (${(publisher.accepted.length / elapsed).toFixed(1)}/s), ${reconnects} disconnect/reconnect cycles (${(reconnects / elapsed).toFixed(1)}/s), ${refusals} refused requests; seed ${seed}\n`,
);
process.exit(failed === 0 ? 0 : 1);
