// One client address takes every subscriber connection the default per-IP limit allows, and none
// of them reads: half replay `earliest` over a history of big events, half follow busy topics,
// each its own set of them.
//
// Measured before the bound (memory engine, 1000 connections from 127.0.0.5, a loaded 2-core
// machine): 1000 such replays grew RSS by 32 MiB (the event bytes are shared); 1000 live
// subscriptions each to its own set of 10 busy topics held 436 MiB, since every subscriber that
// matched a different part of a tick's events got a concatenated copy of its own. Now the hub
// writes such parts event by event (shared bytes, no copy), and the streams of one address share
// one byte budget (--queue-bytes-per-ip, 16 × --queue-bytes by default): past it a live write
// closes its stream (reason `budget`; the client resumes from history) and replays wait for
// room.
//
// Behaviour asserted: every attacker is answered 200; live ones are closed for the address's
// budget and replays that hold it as stalled; their slots come back; and a client
// reading normally from the same address — cut off while the attackers held the budget —
// resumes with Last-Event-ID and gets every event of its topics exactly once, in order.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { account, clean, type Published } from '../lib/accounting.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import type { HubHandle } from '../lib/hub.js';
import { publishOnce } from '../lib/publisher.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { mib } from '../lib/table.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

/** The attacker's address (loopback: any 127.x address reaches a hub on 127.0.0.1). */
const ADDRESS = '127.0.0.5';
/** Busy topics; live attacker i follows the set of them given by the bits of i + 1. */
const BUSY_TOPICS = 10;
const busy = (k: number): string => `/busy/${k}`;
const HISTORY_TOPIC = '/history';
/** `16MiB`, `4MiB` → bytes. */
const parseSize = (size: string): number => Number.parseInt(size, 10) * 1024 * 1024;

interface Params {
  /** Non-reading clients replaying `earliest` over the history. */
  replayers: number;
  /** Non-reading clients following their own set of busy topics. */
  followers: number;
  /** Events of history, and their bytes of data. */
  events: number;
  eventBytes: number;
  /** Batches (one event per busy topic) per second during the attack, and their bytes of data. */
  busyRate: number;
  busyBytes: number;
  /** The busy topics' own history (bytes): filled before the attack, so that it does not grow. */
  busyHistory: string;
  /** --stall-timeout, ms (the default, 30 s, in the full run). */
  stallMs: number;
  /** Extra flags (smaller queues and budget for the short variant). */
  flags: string[];
}

// The full run uses the default limits: 999 attackers and the reader are the 1000 connections
// --max-connections-per-ip allows one address.
const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: {
    replayers: 500,
    followers: 499,
    events: 15,
    eventBytes: 1_000_000,
    busyRate: 1,
    busyBytes: 65_536,
    busyHistory: '32MiB',
    stallMs: 30_000,
    flags: [],
  },
  quick: {
    replayers: 200,
    followers: 199,
    events: 15,
    eventBytes: 1_000_000,
    busyRate: 1,
    busyBytes: 65_536,
    busyHistory: '32MiB',
    stallMs: 5000,
    flags: [],
  },
  test: {
    replayers: 8,
    followers: 8,
    events: 40,
    eventBytes: 200_000,
    busyRate: 4,
    busyBytes: 65_536,
    busyHistory: '4MiB',
    stallMs: 1000,
    flags: ['--queue-bytes', '256KiB', '--queue-bytes-per-ip', '1MiB'],
  },
};

/** POSTs updates as one JSON array (`/publish`); resolves with their ids, in order. */
async function postBatch(
  url: string,
  token: string,
  updates: { topic: string; data: string }[],
): Promise<string[]> {
  const res = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(updates),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`batch refused: ${res.status} ${body}`);
  return (JSON.parse(body) as { ids: string[] }).ids;
}

/** A subscription from ADDRESS that reads its response head and then never reads again. */
async function stalled(url: string, topics: readonly string[], lastEventId?: string) {
  const { hostname, port } = new URL(url);
  const socket = connect({ port: Number(port), host: hostname, localAddress: ADDRESS });
  socket.on('error', () => {});
  await once(socket, 'connect');
  let query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
  if (lastEventId !== undefined) query += `&lastEventID=${encodeURIComponent(lastEventId)}`;
  socket.write(
    `GET /.well-known/mercure?${query} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  const [head] = (await once(socket, 'data')) as [Buffer];
  socket.pause();
  if (!head.toString('latin1').startsWith('HTTP/1.1 200')) {
    socket.destroy();
    throw new Error(`refused: ${head.toString('latin1').split('\r\n')[0]}`);
  }
  return socket;
}

/** The closes by reason, the open connections and the bytes queued. */
async function state(hub: HubHandle) {
  const m = await hub.metrics();
  const closes = (reason: string): number =>
    m.get(`herald_stream_closes_total{reason="${reason}"}`) ?? 0;
  return {
    budget: closes('budget'),
    stalled: closes('stalled'),
    overflow: closes('overflow'),
    connections: m.get('herald_connections') ?? 0,
    queued: m.get('herald_bytes_queued') ?? 0,
  };
}

/** `npm run chaos -- --scenario attack-one-address`. */
export const oneAddress: Scenario = {
  name: 'attack-one-address',
  summary:
    'one address holds --max-connections-per-ip non-reading subscriptions (replays of big events, live on busy topics): bounded by --queue-bytes-per-ip',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--stall-timeout',
      `${p.stallMs}`,
      // The busy topics keep their own history, so the same-address reader can resume from it
      // however long the attackers hold the budget (--stall-timeout and more: 50 s of the full
      // run's feed), and they never evict the big events.
      '--history-topic',
      `/busy/{k}=1000000,${p.busyHistory}`,
      ...p.flags,
    ]);
    try {
      const token = await publisherToken();
      const history: string[] = [];
      for (let i = 0; i < p.events; i++) {
        const data = `${i}:${'x'.repeat(p.eventBytes - 8)}`;
        const answer = await publishOnce(hub.url, token, { topics: [HISTORY_TOPIC], data });
        if (answer.status === 200) history.push(answer.body);
      }
      const busyTopics = Array.from({ length: BUSY_TOPICS }, (_, k) => busy(k));
      // A client from the attacker's address that reads everything, as EventSource would.
      const reader = new AccountingSubscriber({
        url: hub.url,
        topics: busyTopics,
        localAddress: ADDRESS,
      });
      await reader.connect();
      for (let i = 0; i < 500 && !reader.open; i++) await sleep(20);
      // The busy feed: a batch of one event per busy topic at a time (a JSON array, delivered
      // in one tick), so that every follower matches its own part of each tick's events. Its
      // history is filled first: what that holds is the operator's, not the attack's.
      const busyEvents: Published[] = [];
      let batches = 0;
      const publishBatch = async (): Promise<void> => {
        const updates = busyTopics.map((topic) => ({
          topic,
          data: `${batches}:${'b'.repeat(p.busyBytes)}`,
        }));
        batches++;
        const ids = await postBatch(hub.url, token, updates);
        for (const [k, id] of ids.entries()) busyEvents.push({ id, topics: [busyTopics[k]!] });
      };
      while (batches * BUSY_TOPICS * p.busyBytes < 1.25 * parseSize(p.busyHistory)) {
        await publishBatch();
      }
      let feeding = false;
      let feed: Promise<void> = Promise.resolve();
      const startFeed = (): void => {
        feeding = true;
        feed = (async () => {
          while (feeding) {
            const next = sleep(1000 / p.busyRate);
            await publishBatch().catch(() => {});
            await next;
          }
        })();
      };
      const before = await state(hub);
      let peakQueued = 0;
      let polling = true;
      const poll = (async () => {
        while (polling) {
          peakQueued = Math.max(peakQueued, (await state(hub)).queued);
          await sleep(200);
        }
      })();
      const { state: attackers, figures } = await underAttack(
        hub,
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            startFeed();
            const sockets: Socket[] = [];
            const refusals: string[] = [];
            const open = async (n: number, start: (i: number) => Promise<Socket>) => {
              for (let i = 0; i < n; i += 20) {
                const batch = await Promise.allSettled(
                  Array.from({ length: Math.min(20, n - i) }, (_, j) => start(i + j)),
                );
                for (const r of batch) {
                  if (r.status === 'fulfilled') sockets.push(r.value);
                  else refusals.push(String(r.reason));
                }
              }
            };
            await open(p.replayers, () => stalled(hub.url, [HISTORY_TOPIC], 'earliest'));
            await open(p.followers, (i) =>
              stalled(
                hub.url,
                busyTopics.filter((_, k) => ((i + 1) >> k) & 1),
              ),
            );
            return { sockets, refusals };
          },
          async withdraw(s) {
            // Both bounds act: live writes past the budget close their streams, replays that
            // hold it stall out. (The replays waiting for the budget behind them would follow,
            // a round per --stall-timeout: the attackers leave instead.)
            const deadline = performance.now() + p.stallMs + 30_000;
            while (performance.now() < deadline) {
              const now = await state(hub);
              if (now.budget > before.budget && now.stalled > before.stalled) break;
              await sleep(250);
            }
            for (const socket of s.sockets) socket.destroy();
            feeding = false;
            await feed;
          },
        },
      );
      polling = false;
      await poll;
      // The reader catches up with the last busy event.

      const last = busyEvents.at(-1)?.id;
      const caughtUp = await settlesWithin(
        reader.until(() => reader.lastEventId === last),
        30_000,
      );
      reader.stop();
      const after = await state(hub);
      let slotsBack = after.connections;
      for (let i = 0; i < 40 && slotsBack > 0; i++) {
        await sleep(250);
        slotsBack = (await state(hub)).connections;
      }
      const books = account(busyEvents, {
        topics: busyTopics,
        received: reader.received,
        gaps: reader.gaps,
      });
      const attackerCount = p.replayers + p.followers;
      const budgetClosed = after.budget - before.budget;
      const stalledClosed = after.stalled - before.stalled;
      const overflowClosed = after.overflow - before.overflow;
      const report = [
        `one address (${ADDRESS}): ${attackers.sockets.length} non-reading subscriptions — ${p.replayers} replaying earliest over ${history.length} × ${mib(p.eventBytes)} MiB, ${p.followers} on their own sets of ${BUSY_TOPICS} busy topics (${p.busyRate} batches/s of ${BUSY_TOPICS} × ${p.busyBytes} B) — and one reader; flags: ${p.flags.join(' ') || 'defaults'}, --stall-timeout ${p.stallMs / 1000}s`,
        attackReport(figures),
        `closed by policy: budget ${budgetClosed}, stalled ${stalledClosed}, overflow ${overflowClosed}; peak bytes queued ${mib(peakQueued)} MiB; connections after: ${slotsBack}`,
        `same-address reader: ${reader.connections} connections, ${reader.serverClosed} ended by the hub; ${books.received} of ${books.expected} busy events, lost ${books.lost}, dup ${books.duplicated}, order ${books.outOfOrder}, gaps ${books.gaps}`,
      ].join('\n');
      return {
        checks: [
          check(
            'the history was published',
            history.length === p.events,
            `${history.length} of ${p.events}`,
          ),
          check(
            'every attacker was answered 200 (within --max-connections-per-ip)',
            attackers.refusals.length === 0 && attackers.sockets.length === attackerCount,
            `${attackers.sockets.length} of ${attackerCount}${attackers.refusals.length > 0 ? `; ${attackers.refusals[0]}` : ''}`,
          ),
          check(
            "live attackers were closed for the address's budget (reason budget)",
            budgetClosed > 0,
            `${budgetClosed} of ${p.followers} followers (and the reader's streams)`,
          ),
          check(
            'replaying attackers that stopped reading were closed as stalled',
            stalledClosed > 0,
            `${stalledClosed} of ${p.replayers}`,
          ),
          check(
            'their connection slots came back',
            slotsBack === 0,
            `${slotsBack} connections open after`,
          ),
          check(
            'the same-address reader got every busy event once, in order',
            caughtUp && clean(books) && books.gaps === 0 && books.expected === busyEvents.length,
            `${books.received} of ${books.expected}, lost ${books.lost}, dup ${books.duplicated}, order ${books.outOfOrder}, gaps ${books.gaps}${caughtUp ? '' : '; did not catch up'}`,
          ),
          ...boundChecks(figures),
        ],
        report,
        figures: {
          ...attackFigureRecord(figures),
          attackers: attackers.sockets.length,
          budgetClosed,
          stalledClosed,
          overflowClosed,
          peakQueuedMiB: Number(mib(peakQueued)),
          readerConnections: reader.connections,
          busyEvents: busyEvents.length,
          readerReceived: books.received,
        },
      };
    } finally {
      await hub.close();
    }
  },
};
