/**
 * The peers that are minimal Node servers written for the bench (`servers/*.ts`), each in its
 * own process: Herald embedded, better-sse, and the naive Express loop.
 */
import type { BenchEntries } from '../build.js';
import { startChild } from './spawn.js';
import type { PeerDefinition, PeerInstance, StartOptions } from './types.js';

/**
 * @param script - the compiled server (see `build.ts`)
 */
function nodeServerPeer(
  name: string,
  script: string,
  description: string,
  herald: boolean,
): PeerDefinition {
  return {
    name,
    description,
    herald,
    check: async () => undefined,
    async start(options: StartOptions = {}): Promise<PeerInstance> {
      const server = await startChild(
        process.execPath,
        [...(options.nodeArgs ?? []), script],
        /listening (\d+)/,
      );
      const pid = server.child.pid ?? 0;
      return {
        port: server.port,
        pids: () => [pid],
        memoryPid: pid,
        subscribe: { path: '/sub', headers: {} },
        // Herald's memory engine starts every id with its random epoch: `earliest` replays all
        // it holds. The others number events from 1: after 0 is everything.
        replay: { path: '/sub', headers: { 'last-event-id': herald ? 'earliest' : '0' } },
        publish: {
          port: server.port,
          path: '/pub',
          headers: { 'content-type': 'text/plain' },
          body: (data) => data,
        },
        stop: () => server.stop(),
      };
    },
  };
}

/** The Node peers, running the compiled servers of `build.ts`. */
export function nodePeers(servers: BenchEntries['servers']): {
  heraldEmbedded: PeerDefinition;
  betterSse: PeerDefinition;
  naive: PeerDefinition;
} {
  return {
    heraldEmbedded: nodeServerPeer(
      'herald-embedded',
      servers['herald-embedded'],
      "Herald's createHub in a minimal node:http server (GET /sub, POST /pub), bundled with esbuild",
      true,
    ),
    betterSse: nodeServerPeer(
      'better-sse',
      servers['better-sse'],
      'better-sse 0.16 session + channel.broadcast in a minimal node:http server',
      false,
    ),
    naive: nodeServerPeer(
      'naive',
      servers.naive,
      'Express 5, an array of open responses and a res.write loop per event',
      false,
    ),
  };
}
