// The hub under test, as its own process: `herald serve` flags in argv (through the real
// `loadConfig`), logs silenced unless a flag says otherwise. Spoken to over the fork IPC channel:
// it announces { type: 'ready', url } and answers { type: 'sample', id, gc } with one
// ProcessSample of itself, and { type: 'close' } with a graceful shutdown and exit 0.
import { startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { sampleSelf } from './sample.js';

/** Messages the parent sends. */
type Request = { type: 'sample'; id: number; gc: boolean } | { type: 'close' };

const send = (message: unknown): void => {
  process.send?.(message);
};

const { config } = loadConfig({ argv: process.argv.slice(2), env: {} });
const server = await startServer(config, { logger: createLogger(config.logLevel) });
send({ type: 'ready', url: server.url, pid: process.pid });

process.on('message', (message: Request) => {
  if (message.type === 'sample') {
    send({ type: 'sample', id: message.id, sample: sampleSelf(message.gc) });
  } else if (message.type === 'close') {
    server.close(1000).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  }
});
// The parent went away (killed, crashed): do not outlive it.
process.on('disconnect', () => {
  server.close(500).finally(() => process.exit(0));
});
