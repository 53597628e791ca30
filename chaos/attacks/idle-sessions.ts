// Item 9: HTTP/2 sessions that never open a stream, from one address, many more than the
// process has descriptors.
//
// The attacker (127.0.0.2) opens connections that send the HTTP/2 preface and then nothing. The
// hub used to keep every one of them for as long as the attacker liked, until its descriptors
// ran out (20,000 held every descriptor for 110 s; new connections, /healthz included, were
// reset), and the default --max-connections (100,000) was above the descriptor limit anyway.
// The bounds, as behaviour: the address holds at most --max-sockets-per-ip connections (the
// rest are closed as they are accepted), the hub keeps descriptors to spare, a new connection
// from another address gets /healthz, and every idle session gets a GOAWAY after
// --idle-timeout.
//
// Full size floods from worker processes (each has its own descriptors), so the flood can
// outgrow the hub's open-file limit, which the hub process shares with the harness.
import { readdirSync } from 'node:fs';
import { defaultSockets, defaultSocketsPerIp, readFdLimit } from '../../src/server/fd-limit.js';
import {
  type AttackFigures,
  attackFigureRecord,
  attackReport,
  boundChecks,
  underAttack,
} from '../lib/attack.js';
import { connectH2, h2Text, startH2cRelay } from '../lib/h2.js';
import { type FloodStats, IdleFlood, WorkerFlood } from '../lib/idle-flood.js';
import { settlesWithin, sleep } from '../lib/time.js';
import { KEY_FLAGS, publisherToken } from '../lib/tokens.js';
import { check, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';

interface Params {
  /** Connections the attacker attempts. */
  count: number;
  /** Worker processes (0 = this process). */
  workers: number;
  /** Extra hub flags (the defaults apply at full size). */
  flags: string[];
  /** The idle timeout in force, ms. */
  idleMs: number;
  /** --max-sockets-per-ip in force (`undefined`: the default, from the descriptor limit). */
  perIp: number | undefined;
}

const PARAMS: Record<ScenarioContext['size'], Params> = {
  full: { count: 20_000, workers: 2, flags: [], idleMs: 10_000, perIp: undefined },
  quick: {
    count: 3000,
    workers: 0,
    flags: ['--idle-timeout', '3s'],
    idleMs: 3000,
    perIp: undefined,
  },
  test: {
    count: 60,
    workers: 0,
    flags: ['--idle-timeout', '300ms', '--max-sockets-per-ip', '20'],
    idleMs: 300,
    perIp: 20,
  },
};

const ATTACKER = '127.0.0.2';
/** Descriptors the hub keeps for itself below its limit (fd-limit.ts: at least 64). */
const PROCESS_RESERVE = 64;

/** The default --max-sockets-per-ip for this machine's descriptor limit (the hub inherits it). */
function defaultPerIp(fdLimit: number): number {
  return defaultSocketsPerIp(1000, defaultSockets(fdLimit));
}

/** Open descriptors of process `pid` (Linux), or -1. */
function countFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

interface Outcome {
  stats: FloodStats;
  /** Attacker connections open once the flood was done. */
  held: number;
  /** The hub's open descriptors then. */
  hubFds: number;
  /** /healthz over a new connection from 127.0.0.1 then (0: no answer). */
  healthz: number;
  /** Attacker connections still open when the attack was withdrawn. */
  leftOpen: number;
  launchSeconds: number;
}

export const idleSessions: Scenario = {
  name: 'attack-idle-sessions',
  summary: 'HTTP/2 sessions without streams from one address: bounded, timed out, /healthz answers',
  async run(ctx): Promise<ScenarioResult> {
    const p = PARAMS[ctx.size];
    const fdLimit = readFdLimit().limit;
    const perIp = p.perIp ?? defaultPerIp(fdLimit);
    const hub = await ctx.startHub([...KEY_FLAGS, '--anonymous', '--h2c', ...p.flags]);
    const relay = await startH2cRelay(hub.url);
    try {
      const token = await publisherToken();
      const { state, figures } = await underAttack(
        { ...hub, url: relay.url },
        { size: ctx.size, publisherToken: token },
        {
          async launch() {
            const flood = p.workers > 0 ? new WorkerFlood() : new IdleFlood();
            const t0 = performance.now();
            const options = { url: hub.url, address: ATTACKER, count: p.count };
            if (flood instanceof WorkerFlood) await flood.open(options, p.workers);
            else await flood.open(options);
            const launchSeconds = (performance.now() - t0) / 1000;
            const stats = flood instanceof WorkerFlood ? await flood.refresh() : flood.stats;
            // Counted from outside: a hub out of descriptors cannot even measure itself.
            const hubFds = countFds(hub.pid);
            let healthz = 0;
            const probe = (async () => {
              const session = await connectH2(hub.url, '127.0.0.1');
              try {
                healthz = (await h2Text(session, '/healthz')).status;
              } finally {
                session.destroy();
              }
            })().catch(() => {});
            await settlesWithin(probe, 5000);
            ctx.log(
              `attack-idle-sessions: ${stats.attempted} attempted in ${launchSeconds.toFixed(1)} s, ${stats.open} held, ${stats.refused} refused, hub fds ${hubFds}/${fdLimit}, /healthz ${healthz}`,
            );
            return {
              flood,
              outcome: {
                stats: { ...stats },
                held: stats.open,
                hubFds,
                healthz,
                leftOpen: 0,
                launchSeconds,
              } as Outcome,
            };
          },
          async withdraw({ flood, outcome }) {
            // The hub closes idle sessions by itself: wait for it, a few seconds past the timeout.
            const deadline = performance.now() + p.idleMs + 5000;
            let stats = flood instanceof WorkerFlood ? await flood.refresh() : flood.stats;
            while (stats.open > 0 && performance.now() < deadline) {
              await sleep(100);
              stats = flood instanceof WorkerFlood ? await flood.refresh() : flood.stats;
            }
            outcome.stats = { ...stats };
            outcome.leftOpen = stats.open;
            if (flood instanceof WorkerFlood) await flood.withdraw();
            else flood.withdraw();
          },
        },
      );
      return result(state.outcome, figures, p, perIp, fdLimit);
    } finally {
      await relay.close();
      await hub.close();
    }
  },
};

function result(
  o: Outcome,
  figures: AttackFigures,
  p: Params,
  perIp: number,
  fdLimit: number,
): ScenarioResult {
  const s = o.stats;
  return {
    checks: [
      check(
        `one address holds at most --max-sockets-per-ip (${perIp}) connections`,
        o.held <= perIp,
        `${o.held} held of ${s.attempted} attempted; ${s.refused} closed as accepted`,
      ),
      check(
        'the hub keeps descriptors to spare',
        o.hubFds > 0 && o.hubFds < fdLimit - PROCESS_RESERVE,
        `${o.hubFds} open of ${fdLimit}`,
      ),
      check(
        'a new connection from another address gets /healthz',
        o.healthz === 200,
        o.healthz === 0 ? 'no answer' : `status ${o.healthz}`,
      ),
      check(
        `every idle session is closed by the hub (GOAWAY) after --idle-timeout`,
        o.leftOpen === 0 && s.closedByHub === s.accepted && s.goaways === s.closedByHub,
        `${s.closedByHub} of ${s.accepted} closed by the hub (${s.goaways} with a GOAWAY), ${o.leftOpen} still open ${p.idleMs / 1000 + 5} s past the timeout`,
      ),
      ...boundChecks(figures),
    ],
    report: [
      `${s.attempted} idle HTTP/2 connections from ${ATTACKER} in ${o.launchSeconds.toFixed(1)} s${p.workers > 0 ? ` (${p.workers} worker processes)` : ''}; descriptor limit ${fdLimit}, --max-sockets-per-ip ${perIp}, --idle-timeout ${p.idleMs / 1000} s`,
      `held at once: ${o.held}; closed as accepted: ${s.refused}; failed to connect: ${s.failed}; hub descriptors: ${o.hubFds}; /healthz from 127.0.0.1 over a new connection: ${o.healthz || 'no answer'}`,
      `closed by the hub: ${s.closedByHub} of ${s.accepted} accepted (${s.goaways} with a GOAWAY); still open at the end: ${o.leftOpen}`,
      attackReport(figures),
    ].join('\n'),
    figures: {
      ...attackFigureRecord(figures),
      attempted: s.attempted,
      held: o.held,
      refused: s.refused,
      hubFds: o.hubFds,
      fdLimit,
      healthzStatus: o.healthz,
      closedByHub: s.closedByHub,
      accepted: s.accepted,
      goaways: s.goaways,
      leftOpen: o.leftOpen,
    },
  };
}
