// Slow consumers: healthy subscribers next to subscribers that stop reading.
//
// H healthy subscribers read /load (updates at a steady rate, each carrying its publish time, so
// every delivery gives a publish→receive latency). /bulk gets larger updates nobody healthy
// reads. Then, in rounds:
//   1. baseline window: only the healthy subscribers;
//   2. N new subscribers of /load and /bulk connect, read their response head and never read
//      again; the window lasts until the overflow policy has closed every one of them.
// Alternating the two windows makes a change in the machine's load hit both alike. Criteria:
// healthy p99 in (2) within 2× of (1); the hub's RSS growth bounded by what the policy lets the
// stalled ones hold; every stalled one closed (herald_queue_overflows_total); no healthy one
// closed; and the healthy ones' exact accounting clean.
//
// On loopback the kernel absorbs about 4 MB per stalled socket before the hub sees any
// backpressure: /bulk is what fills that in seconds rather than minutes, and copying it into the
// kernel is work the hub would do for fast readers too.
import type { Socket } from 'node:net';
import { type Account, account, clean, type Published, total } from '../lib/accounting.js';
import type { HubHandle } from '../lib/hub.js';
import { publishOnce, SteadyPublisher } from '../lib/publisher.js';
import type { ProcessSample } from '../lib/sample.js';
import { stalledSubscriber } from '../lib/slow-client.js';
import { AccountingSubscriber } from '../lib/subscriber.js';
import { mib, percentile, table } from '../lib/table.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface SlowParams {
  healthy: number;
  slow: number;
  /** Updates per second to /load. */
  rate: number;
  /** Bytes of each /load update. */
  size: number;
  /** Updates per second to /bulk, and their size: what fills the slow ones' buffers. */
  bulkRate: number;
  bulkSize: number;
  /** Length of each baseline window, and least length of each stalled window, ms. */
  phaseMs: number;
  /** --queue-bytes. */
  queueBytes: number;
  /** Rounds of (baseline window, stalled subscribers until closed). */
  rounds: number;
}

const PARAMS: Record<ScenarioContext['size'], SlowParams> = {
  full: {
    healthy: 1000,
    slow: 1000,
    rate: 20,
    size: 1024,
    bulkRate: 12,
    bulkSize: 16 * 1024,
    phaseMs: 5000,
    queueBytes: 256 * 1024,
    rounds: 4,
  },
  quick: {
    healthy: 200,
    slow: 200,
    rate: 20,
    size: 1024,
    bulkRate: 12,
    bulkSize: 16 * 1024,
    phaseMs: 3000,
    queueBytes: 256 * 1024,
    rounds: 3,
  },
  test: {
    healthy: 10,
    slow: 10,
    rate: 20,
    size: 512,
    bulkRate: 40,
    // Under the queue bound once encoded: a larger update is refused at publish (413).
    bulkSize: 60 * 1024,
    phaseMs: 1000,
    queueBytes: 64 * 1024,
    rounds: 1,
  },
};

/** Waits until a metric satisfies `ok` (polling /metrics), or the deadline passes. */
async function waitMetric(
  hub: HubHandle,
  name: string,
  ok: (value: number) => boolean,
  ms: number,
): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = (await hub.metrics()).get(name) ?? 0;
    if (ok(value) || Date.now() > deadline) return value;
    await sleep(100);
  }
}

export const slowConsumers: Scenario = {
  name: 'slow-consumers',
  summary:
    'subscribers that stop reading next to healthy ones: healthy p99 within 2× of baseline, bounded RSS, slow ones closed',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const hub = await ctx.startHub([
      ...KEY_FLAGS,
      '--anonymous',
      '--queue-bytes',
      String(p.queueBytes),
      '--max-connections-per-ip',
      '0',
      // What is shown here is the overflow policy: the stall timeout would close the stalled
      // subscribers first, when the publisher is slower than it (attack-replay-flood shows it).
      '--stall-timeout',
      '0',
      // Nobody here replays: a small history keeps the memory figures about subscribers.
      '--history-size',
      '100',
      '--heartbeat',
      '5s',
    ]);
    const stalled: Socket[] = [];
    try {
      const token = await publisherToken();
      // Latencies of the current phase, ms; `measuring` is off during warm-ups.
      let measuring = false;
      let latencies: number[] = [];
      // Every delivery as (time, latency) pairs, for the per-second timeline.
      const timeline: number[] = [];
      const overflowsAt: Array<[number, number]> = [];
      const healthy = Array.from(
        { length: p.healthy },
        () =>
          new AccountingSubscriber({
            url: hub.url,
            topics: ['/load'],
            onEvent: (event, at) => {
              const latency = at - Number.parseFloat(event.data);
              if (measuring) latencies.push(latency);
              timeline.push(at, latency);
            },
          }),
      );
      // A first update so every stream starts after a known id (see the drops scenario).
      await publishOnce(hub.url, token, { topics: ['/load'], data: '0' });
      for (let i = 0; i < healthy.length; i += 100) {
        await Promise.all(healthy.slice(i, i + 100).map((s) => s.connect()));
      }
      ctx.log(`slow-consumers: ${p.healthy} healthy subscribers connected`);
      // Taken after the first baseline window, once the (small) history is full.
      let start: ProcessSample | undefined;

      const pad = 'x'.repeat(p.size);
      const load = new SteadyPublisher({
        url: hub.url,
        token,
        rate: p.rate,
        next: () => ({ topics: ['/load'], data: `${performance.now()} ${pad}` }),
      });
      const bulkData = 'b'.repeat(p.bulkSize);
      const bulk = new SteadyPublisher({
        url: hub.url,
        token,
        rate: p.bulkRate,
        next: () => ({ topics: ['/bulk'], data: bulkData }),
      });
      load.start();
      bulk.start();

      const samples: Array<ProcessSample & { phase: string }> = [];
      let phase = 'baseline';
      const sampler = setInterval(() => {
        hub.sample().then(
          (s) => samples.push({ ...s, phase }),
          () => {},
        );
      }, 250);
      const t0 = performance.now();
      const metricsPoll = setInterval(() => {
        hub.metrics().then(
          (m) => {
            overflowsAt.push([performance.now(), m.get('herald_queue_overflows_total') ?? 0]);
          },
          () => {},
        );
      }, 1000);

      const window = async (ms: number): Promise<number[]> => {
        latencies = [];
        measuring = true;
        await sleep(ms);
        measuring = false;
        return latencies;
      };
      await sleep(1000); // warm-up

      // Rounds of (baseline window, then stalled subscribers until the policy closed them all),
      // so a change in the machine's load over the run hits both sides alike.
      const baseline: number[] = [];
      const withSlow: number[] = [];
      const rounds: Array<Array<string | number>> = [];
      let rssBefore = 0;
      let overflows = 0;
      let peak = 0;
      for (let round = 0; round < p.rounds; round++) {
        phase = 'baseline';
        const s0 = await hub.sample();
        const base = await window(p.phaseMs);
        start ??= await hub.sample(true);
        const s1 = await hub.sample();
        for (const v of base) baseline.push(v);
        const before = (await hub.sample()).rss;
        rssBefore = Math.max(rssBefore, before);

        phase = 'slow';
        latencies = [];
        measuring = true;
        const started = performance.now();
        const mine: Socket[] = [];
        for (let i = 0; i < p.slow; i += 100) {
          const batch = await Promise.all(
            Array.from({ length: Math.min(100, p.slow - i) }, () =>
              stalledSubscriber(hub.url, ['/load', '/bulk']),
            ),
          );
          mine.push(...batch);
        }
        stalled.push(...mine);
        // Measure for at least a window, and until the policy has closed every stalled one
        // (their kernel buffers hold megabytes before the hub's queue even starts to fill).
        await sleep(p.phaseMs);
        overflows = await waitMetric(
          hub,
          'herald_queue_overflows_total',
          (v) => v >= (round + 1) * p.slow,
          60_000,
        );
        const closedAfter = (performance.now() - started) / 1000;
        measuring = false;
        const s2 = await hub.sample();
        const cpu = (a: ProcessSample, b: ProcessSample): string =>
          (((b.cpu - a.cpu) / 1000 / (b.at - a.at)) * 100).toFixed(0);
        const slowLatencies = latencies;
        for (const v of slowLatencies) withSlow.push(v);
        for (const socket of mine) socket.destroy();
        const roundPeak = Math.max(
          0,
          ...samples
            .filter((x) => x.phase === 'slow' && x.at >= Date.now() - closedAfter * 1000)
            .map((x) => x.rss),
        );
        peak = Math.max(peak, roundPeak - before);
        rounds.push([
          round + 1,
          percentile(base, 99).toFixed(1),
          percentile(slowLatencies, 99).toFixed(1),
          closedAfter.toFixed(1),
          cpu(s0, s1),
          cpu(s1, s2),
          mib(before),
          mib(roundPeak),
        ]);
        ctx.log(
          `slow-consumers: round ${round + 1}/${p.rounds}: p99 ${percentile(base, 99).toFixed(1)} → ${percentile(slowLatencies, 99).toFixed(1)} ms, ${overflows} overflows so far`,
        );
      }
      phase = 'after';
      await load.stop();
      await bulk.stop();
      clearInterval(sampler);
      clearInterval(metricsPoll);
      const open = await waitMetric(hub, 'herald_connections', (v) => v === p.healthy, 10_000);
      const last = await hub.sample(true);
      const rssAfter = last.rss;
      // What closed subscriptions leave behind: the live heap (after GC) at the end against the
      // start, with the same healthy subscribers connected.
      start ??= last;
      const heapGrowth = last.heapUsed - start.heapUsed;

      // Healthy subscribers: exact accounting of /load.
      const end = await publishOnce(hub.url, token, { topics: ['/load'], data: 'end' });
      const marker = end.body;
      await settlesWithin(
        Promise.all(healthy.map((s) => s.until(() => s.lastEventId === marker))),
        20_000,
      );
      const published: Published[] = [...load.ordered(), { id: marker, topics: ['/load'] }];
      const accounts: Account[] = healthy.map((s) =>
        account(published, { topics: ['/load'], received: s.received, gaps: s.gaps }),
      );
      const sum = total(accounts);
      const healthyClosed = healthy.reduce((n, s) => n + s.serverClosed, 0);
      for (const s of healthy) s.stop();

      const b99 = percentile(baseline, 99);
      const s99 = percentile(withSlow, 99);
      // Bound on the growth while stalled subscribers are connected: what they may hold by
      // policy (their queue, plus one event in flight each), and 64 MiB for everything else.
      const bound = p.slow * (p.queueBytes + p.bulkSize) + 64 * 1024 * 1024;
      const row = (name: string, values: number[]) => [
        name,
        values.length,
        percentile(values, 50).toFixed(2),
        percentile(values, 90).toFixed(2),
        percentile(values, 99).toFixed(2),
        percentile(values, 100).toFixed(2),
      ];
      const byPhase = (name: string) => samples.filter((s) => s.phase === name);
      const rssRow = (name: string) => {
        const list = byPhase(name);
        return [
          name,
          list.length,
          mib(Math.min(...list.map((s) => s.rss))),
          mib(Math.max(...list.map((s) => s.rss))),
          mib(Math.max(...list.map((s) => s.heapUsed))),
        ];
      };
      // Per second: deliveries, p99, hub CPU, overflows so far.
      const seconds: Array<Array<string | number>> = [];
      const lastSecond = Math.ceil((performance.now() - t0) / 1000);
      for (let sec = 0; sec < lastSecond; sec++) {
        const from = t0 + sec * 1000;
        const to = from + 1000;
        const lat: number[] = [];
        for (let i = 0; i < timeline.length; i += 2) {
          const at = timeline[i]!;
          if (at >= from && at < to) lat.push(timeline[i + 1]!);
        }
        const inSec = samples.filter(
          (x) => x.at >= performance.timeOrigin + from && x.at < performance.timeOrigin + to,
        );
        const cpu =
          inSec.length >= 2
            ? ((inSec.at(-1)!.cpu - inSec[0]!.cpu) / 1000 / (inSec.at(-1)!.at - inSec[0]!.at)) * 100
            : Number.NaN;
        const over = overflowsAt.filter(([at]) => at < to).at(-1)?.[1] ?? 0;
        seconds.push([
          sec,
          inSec[0]?.phase ?? '',
          lat.length,
          lat.length > 0 ? percentile(lat, 99).toFixed(1) : '-',
          Number.isNaN(cpu) ? '-' : cpu.toFixed(0),
          inSec.length > 0 ? mib(Math.max(...inSec.map((x) => x.rss))) : '-',
          inSec.length > 0 ? Math.max(...inSec.map((x) => x.loopDelayMax)).toFixed(0) : '-',
          over,
        ]);
      }
      const report = [
        `${p.healthy} healthy + ${p.slow} stalled subscribers (new ones each round); /load ${p.rate}/s × ${p.size} B, /bulk ${p.bulkRate}/s × ${p.bulkSize} B (only the stalled ones read /bulk); --queue-bytes ${p.queueBytes}; ${p.rounds} rounds of a ${p.phaseMs / 1000} s baseline window, then stalled subscribers until the policy closed them all`,
        '',
        'per round: healthy p99 (ms), seconds until every stalled one was closed, hub CPU, hub RSS (MiB)',
        table(
          [
            'round',
            'baseline p99',
            'stalled p99',
            'closed after s',
            'hub CPU % base',
            'hub CPU % stalled',
            'RSS before',
            'RSS peak',
          ],
          rounds,
        ),
        '',
        'healthy publish→receive latency over all rounds, ms',
        table(
          ['phase', 'deliveries', 'p50', 'p90', 'p99', 'max'],
          [row('baseline', baseline), row('with stalled', withSlow)],
        ),
        '',
        'hub process memory, MiB',
        table(
          ['phase', 'samples', 'RSS min', 'RSS max', 'heap max'],
          [rssRow('baseline'), rssRow('slow')],
        ),
        `after all ${p.slow * p.rounds} stalled ones were closed (after GC): RSS ${mib(rssAfter)} MiB, heap ${mib(last.heapUsed)} MiB (at the start ${mib(start.heapUsed)} MiB), handles ${last.handles} (at the start ${start.handles})`,
        '',
        'per second',
        table(
          [
            's',
            'phase',
            'deliveries',
            'p99 ms',
            'hub CPU %',
            'RSS MiB',
            'hub loop delay ms',
            'overflows',
          ],
          seconds,
        ),
        '',
        `healthy accounting: expected ${sum.expected}, received ${sum.received}, lost ${sum.lost}, dup ${sum.duplicated}, order ${sum.outOfOrder}; healthy streams closed by the hub: ${healthyClosed}`,
      ].join('\n');
      return {
        checks: [
          check(
            'healthy p99 ≤ 2 × baseline p99',
            s99 <= 2 * b99,
            `${s99.toFixed(2)} ms vs baseline ${b99.toFixed(2)} ms (×${(s99 / b99).toFixed(2)})`,
          ),
          check(
            'every stalled subscriber closed by the overflow policy',
            overflows === p.slow * p.rounds,
            `herald_queue_overflows_total ${overflows} of ${p.slow * p.rounds}`,
          ),
          check(
            'only the healthy ones remain connected',
            open === p.healthy && healthyClosed === 0,
            `herald_connections ${open}, healthy closed by the hub ${healthyClosed}`,
          ),
          check(
            'hub RSS bounded',
            peak <= bound,
            `growth ${mib(peak)} MiB ≤ ${mib(bound)} MiB (${p.slow} × (queue + one bulk event) + 64 MiB), over a baseline of ${mib(rssBefore)} MiB`,
          ),
          check(
            'nothing left behind by the closed subscriptions',
            heapGrowth <= start.heapUsed * 0.1 + 1024 * 1024 && last.handles <= start.handles + 2,
            `heap after GC ${mib(start.heapUsed)} → ${mib(last.heapUsed)} MiB, handles ${start.handles} → ${last.handles}`,
          ),
          check(
            'healthy subscribers lost nothing',
            accounts.every(clean) && sum.lostInGap === 0,
            `lost ${sum.lost}, in gaps ${sum.lostInGap}, duplicated ${sum.duplicated}, out of order ${sum.outOfOrder}`,
          ),
        ],
        report,
        figures: {
          baselineP99: b99,
          slowP99: s99,
          ratio: s99 / b99,
          overflows,
          open,
          rssGrowthMiB: Number(mib(peak)),
          heapStartMiB: Number(mib(start.heapUsed)),
          heapEndMiB: Number(mib(last.heapUsed)),
          boundMiB: Number(mib(bound)),
          lost: sum.lost,
          duplicated: sum.duplicated,
          outOfOrder: sum.outOfOrder,
          healthyClosed,
        },
      };
    } finally {
      for (const socket of stalled) socket.destroy();
      await hub.close();
    }
  },
};
