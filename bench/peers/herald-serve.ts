/**
 * Peer "herald-serve": the `herald serve` command (the Mercure-compatible hub), from the built
 * `dist/cli.js` (or from `src/cli.ts` through tsx when the build is unavailable). Publishes are
 * Mercure POSTs with a publisher JWT, subscribers are anonymous.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { startChild } from './spawn.js';
import type { PeerDefinition, PeerInstance, StartOptions } from './types.js';

/** An HS256 JWT over `payload`, signed with `secret`. */
export function signJwt(payload: object, secret: string): string {
  const encode = (value: object): string =>
    Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`;
  const signature = createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

/**
 * @param cli - how to run the `herald` command: `[node args…, script]`, e.g. `['dist/cli.js']`
 *   or `['--import', 'tsx', 'src/cli.ts']`
 * @param cwd - the repository root
 */
export function heraldServe(cli: readonly string[], cwd: string): PeerDefinition {
  return {
    name: 'herald-serve',
    description: `herald serve (${cli.join(' ')}), Mercure POST with a publisher JWT, anonymous subscribers`,
    herald: true,
    check: async () => undefined,
    async start(options: StartOptions = {}): Promise<PeerInstance> {
      const secret = randomBytes(32).toString('hex');
      const server = await startChild(
        process.execPath,
        [
          ...(options.nodeArgs ?? []),
          ...cli,
          'serve',
          '--addr',
          '127.0.0.1:0',
          '--publisher-jwt-key',
          secret,
          '--anonymous',
          '--log-level',
          'error',
          '--max-connections',
          '0',
          '--max-connections-per-ip',
          '0',
        ],
        /listening on http:\/\/[^\s]*:(\d+)/,
        { cwd },
      );
      const pid = server.child.pid ?? 0;
      const token = signJwt({ mercure: { publish: ['*'] } }, secret);
      const path = `/.well-known/mercure?topic=${encodeURIComponent('/bench')}`;
      return {
        port: server.port,
        pids: () => [pid],
        memoryPid: pid,
        subscribe: { path, headers: {} },
        // Mercure: "earliest" asks for every event the hub still has.
        replay: { path, headers: { 'last-event-id': 'earliest' } },
        publish: {
          port: server.port,
          path: '/.well-known/mercure',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Bearer ${token}`,
          },
          // The stamped payload is [A-Za-z0-9], safe in a form body as is.
          body: (data) => `topic=%2Fbench&data=${data}`,
        },
        stop: () => server.stop(),
      };
    },
  };
}
