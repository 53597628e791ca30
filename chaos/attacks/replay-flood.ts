// Non-reading clients that replay the whole history (`lastEventID=earliest`) of big events.
//
// Each attacker sends its GET on a raw socket and never reads: the hub's replay fills the
// kernel's buffers, then the stream's. Before the fix a replay wrote each history page (up to
// 512 events) as one concatenated copy and never timed the client out: 100 such clients over
// 15 × 1 MB events took the hub from 93 MiB to 1.5 GiB (memory engine), and over Redis each
// client also pulled 500 entries per XRANGE. Now the replay reads pages no larger than the room
// left in the stream (--queue-bytes), writes shared bytes, waits for the client to drain, and
// the stream is closed once its socket has not drained for --stall-timeout.
//
// Behaviour asserted: every attacker is answered 200 and then closed by policy with reason
// `stalled` (herald_stream_closes_total), their connection slots come back, and a healthy
// reader replaying the same history meanwhile gets every event exactly once, in order.
import { get } from 'node:http';
import type { Socket } from 'node:net';
import { createParser } from 'eventsource-parser';
import { startRedis, type TestRedis } from '../../test/helpers/redis-server.js';
import { attackFigureRecord, attackReport, boundChecks, underAttack } from '../lib/attack.js';
import type { HubHandle } from '../lib/hub.js';
import { publishOnce } from '../lib/publisher.js';
import { stalledSubscriber } from '../lib/slow-client.js';
import { mib } from '../lib/table.js';
import { sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** Non-reading clients replaying `earliest`. */
  attackers: number;
  /** Events of history. */
  events: number;
  /** Bytes of data per event. */
  eventBytes: number;
  /** --stall-timeout, ms (the default, 30 s, in the full run). */
  stallMs: number;
}

const MEMORY: Record<ScenarioContext['size'], Params> = {
  full: { attackers: 100, events: 15, eventBytes: 1_000_000, stallMs: 30_000 },
  quick: { attackers: 30, events: 15, eventBytes: 1_000_000, stallMs: 5000 },
  test: { attackers: 4, events: 10, eventBytes: 1_000_000, stallMs: 1000 },
};

// Over Redis the history is also bounded by bytes now (--history-bytes, default 16 MiB): more
// events than fit are published, and the oldest are trimmed.
const REDIS: Record<ScenarioContext['size'], Params> = {
  full: { attackers: 100, events: 40, eventBytes: 1_000_000, stallMs: 30_000 },
  quick: { attackers: 20, events: 40, eventBytes: 1_000_000, stallMs: 5000 },
  test: { attackers: 4, events: 10, eventBytes: 1_000_000, stallMs: 1000 },
};

const TOPIC = '/replay-flood';

/** Reads a whole-history replay as a well-behaved client would, until id `last` arrived. */
function replayReader(
  url: string,
  last: string,
  timeoutMs: number,
): Promise<{ ids: string[]; sizes: number[]; status: number }> {
  return new Promise((resolve) => {
    const ids: string[] = [];
    const sizes: number[] = [];
    let status = 0;
    const parser = createParser({
      onEvent(event) {
        if (event.event !== undefined && event.event !== 'message') return;
        ids.push(event.id ?? '');
        sizes.push(event.data.length);
        if (event.id === last) finish();
      },
    });
    const req = get(
      `${url}/.well-known/mercure?topic=${encodeURIComponent(TOPIC)}`,
      { headers: { 'last-event-id': 'earliest' }, agent: false },
      (res) => {
        status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => parser.feed(chunk));
        res.on('error', () => finish());
      },
    );
    req.on('error', () => finish());
    const timer = setTimeout(() => finish(), timeoutMs);
    let done = false;
    function finish(): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ids, sizes, status });
    }
  });
}

/** `herald_stream_closes_total{reason="…"}` and the open connections. */
async function closes(hub: HubHandle): Promise<{ stalled: number; connections: number }> {
  const m = await hub.metrics();
  return {
    stalled: m.get('herald_stream_closes_total{reason="stalled"}') ?? 0,
    connections: m.get('herald_connections') ?? 0,
  };
}

function replayFlood(engine: 'memory' | 'redis'): Scenario {
  const table = engine === 'memory' ? MEMORY : REDIS;
  return {
    name: engine === 'memory' ? 'attack-replay-flood' : 'attack-replay-flood-redis',
    summary: `non-reading clients replay earliest over big events (${engine} engine): bounded by --queue-bytes, closed by --stall-timeout`,
    needs: engine === 'redis' ? ['redis-server'] : undefined,
    async run(ctx): Promise<ScenarioResult> {
      const p = table[ctx.size];
      let redis: TestRedis | undefined;
      if (engine === 'redis') redis = await startRedis();
      // No count bound on history: the bystander's thousands of small events must not push the
      // big ones out (--history-bytes stays the default on Redis, where it is what is shown).
      const flags = [
        ...KEY_FLAGS,
        '--anonymous',
        '--stall-timeout',
        `${p.stallMs}`,
        '--history-size',
        '1000000',
      ];
      if (engine === 'memory') flags.push('--history-bytes', '64MiB');
      if (redis !== undefined) flags.push('--engine', redis.url);
      const hub = await ctx.startHub(flags);
      try {
        const token = await publisherToken();
        const published: string[] = [];
        const refused: string[] = [];
        for (let i = 0; i < p.events; i++) {
          const data = `${i}:${'x'.repeat(p.eventBytes - 8)}`;
          const answer = await publishOnce(hub.url, token, { topics: [TOPIC], data });
          if (answer.status === 200) published.push(answer.body);
          else refused.push(`${answer.status} ${answer.body}`);
        }
        ctx.log(`${engine}: ${published.length} events of ${p.eventBytes} bytes published`);
        // What a replay of earliest gets: the retained tail (all of it on memory).
        const newest = published.at(-1) ?? '';
        const probe = await replayReader(hub.url, newest, 10_000);
        const retained = probe.ids.length;

        const stalledBefore = (await closes(hub)).stalled;
        let reader: Promise<{ ids: string[]; status: number }> | undefined;
        const { state: attackers, figures } = await underAttack(
          hub,
          { size: ctx.size, publisherToken: token },
          {
            async launch() {
              const sockets: Socket[] = [];
              const refusals: string[] = [];
              for (let i = 0; i < p.attackers; i += 10) {
                const batch = await Promise.allSettled(
                  Array.from({ length: Math.min(10, p.attackers - i) }, () =>
                    stalledSubscriber(hub.url, [TOPIC], 'earliest'),
                  ),
                );
                for (const r of batch) {
                  if (r.status === 'fulfilled') sockets.push(r.value);
                  else refusals.push(String(r.reason));
                }
              }
              // A healthy client replays the same history meanwhile, reading as it comes.
              reader = replayReader(hub.url, newest, 60_000);
              return { sockets, refusals };
            },
            async withdraw(state) {
              // The hub closes them itself once they have not drained for --stall-timeout.
              const deadline = performance.now() + p.stallMs + 20_000;
              while (performance.now() < deadline) {
                const now = await closes(hub);
                if (now.stalled - stalledBefore >= state.sockets.length) break;
                await sleep(250);
              }
              for (const socket of state.sockets) socket.destroy();
            },
          },
        );
        const healthy = await reader!;
        const after = await closes(hub);
        let slotsBack = after.connections;
        for (let i = 0; i < 40 && slotsBack > 1; i++) {
          await sleep(250);
          slotsBack = (await closes(hub)).connections;
        }
        const stalledClosed = after.stalled - stalledBefore;
        // The retained tail of what was published, each once, in order, up to the newest (the
        // bystander's traffic may trim the oldest of it meanwhile: over Redis by bytes).
        const first = published.indexOf(healthy.ids[0] ?? '');
        const inOrder =
          first >= 0 &&
          healthy.ids.at(-1) === newest &&
          healthy.ids.every((id, i) => id === published[first + i]);
        const expected = published.slice(Math.max(0, first));
        const report = [
          `${engine} engine: ${published.length} events of ${mib(p.eventBytes)} MiB published, ${retained} retained; ${attackers.sockets.length} non-reading clients replaying earliest (default --queue-bytes, --stall-timeout ${p.stallMs / 1000}s)`,
          attackReport(figures),
          `closed as stalled: ${stalledClosed} of ${attackers.sockets.length}; connections after: ${slotsBack} (the bystander)`,
          `healthy replay: ${healthy.ids.length} of ${expected.length} events, ${inOrder ? 'in order, none twice' : 'NOT the history'}`,
        ].join('\n');
        return {
          checks: [
            check(
              'every event of the history was accepted',
              refused.length === 0 && published.length === p.events && retained > 0,
              `${published.length} accepted, ${retained} retained${refused.length > 0 ? `; ${refused[0]}` : ''}`,
            ),
            check(
              'every attacker was answered 200 and replays',
              attackers.refusals.length === 0 && attackers.sockets.length === p.attackers,
              `${attackers.sockets.length} of ${p.attackers}${attackers.refusals.length > 0 ? `; ${attackers.refusals[0]}` : ''}`,
            ),
            check(
              'every non-reading client closed by policy (reason stalled)',
              stalledClosed >= attackers.sockets.length,
              `${stalledClosed} stalled closes for ${attackers.sockets.length} attackers`,
            ),
            check(
              'their connection slots came back',
              slotsBack <= 1,
              `${slotsBack} connections open after (the bystander's)`,
            ),
            check(
              'a healthy reader replaying meanwhile got the history exactly once, in order',
              healthy.status === 200 && inOrder,
              `${healthy.ids.length} of ${expected.length}`,
            ),
            ...boundChecks(figures),
          ],
          report,
          figures: {
            ...attackFigureRecord(figures),
            attackers: attackers.sockets.length,
            retainedEvents: retained,
            stalledClosed,
            healthyReplayed: healthy.ids.length,
          },
        };
      } finally {
        await hub.close();
        await redis?.stop();
      }
    },
  };
}

/** `npm run chaos -- --scenario attack-replay-flood`: the memory engine. */
export const replayFloodAttack: Scenario = replayFlood('memory');
/** `npm run chaos -- --scenario attack-replay-flood-redis`: the Redis engine. */
export const replayFloodRedisAttack: Scenario = replayFlood('redis');
