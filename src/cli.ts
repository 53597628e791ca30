#!/usr/bin/env node
/**
 * The `herald` command: `herald serve` runs the hub, `herald demo` the demo page. No logic lives
 * here: arguments go to `server/config.ts`, the configuration to `server/app.ts`.
 * @packageDocumentation
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { announce } from './commands/serve.js';
import { formatServeHelp, HeraldConfigError, loadConfig } from './server/config.js';
import { startDemoServer } from './server/demo.js';
import { createLogger } from './server/logger.js';

const USAGE = `Usage: herald <command> [options]

Commands:
  serve       Run the hub: Mercure-compatible publish/subscribe over Server-Sent Events.
              herald serve --help lists its options; herald serve --dev is the quick start.
  demo        Serve a live clock and stock ticker over Server-Sent Events, with a web page.

Options:
  -h, --help      Show this help
  -v, --version   Show the version
`;

const DEMO_USAGE = `Usage: herald demo [options]

Options:
  --host <host>   Interface to listen on (default: every interface; env HERALD_HOST)
  --port <port>   Port to listen on (default: 8080; env HERALD_PORT)
  -h, --help      Show this help
`;

/** Prints `message` and a pointer to help on stderr and exits with 2 (a usage error). */
function usageError(message: string, help: string): never {
  process.stderr.write(`herald: ${message}\nSee ${help}.\n`);
  process.exit(2);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Exits with 0 once `close` resolves after SIGINT/SIGTERM; a second signal exits at once. */
function onSignals(close: () => Promise<void>, deadlineMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`herald: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    stopping = true;
    // close() enforces the grace itself; this only guards against a shutdown that hangs.
    setTimeout(() => {
      process.stderr.write('herald: shutdown did not finish within the grace period\n');
      process.exit(1);
    }, deadlineMs).unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`herald: shutdown failed: ${(error as Error).stack ?? error}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function serve(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(formatServeHelp());
    return;
  }
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv: args, env: process.env });
  } catch (error) {
    if (error instanceof HeraldConfigError) usageError(error.message, 'herald serve --help');
    throw error;
  }
  const { config, notices } = loaded;
  const logger = createLogger(config.logLevel);
  const { startServer } = await import('./server/app.js');
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, { logger });
  } catch (error) {
    if (error instanceof HeraldConfigError) usageError(error.message, 'herald serve --help');
    const err = error as NodeJS.ErrnoException;
    const message =
      err.code === 'EADDRINUSE'
        ? `${config.host || 'port'} ${config.port} is already in use; pick another with --port or --addr`
        : err.code === 'EACCES'
          ? `no permission to listen on port ${config.port}; pick one above 1023 with --port`
          : err.message;
    process.stderr.write(`herald serve: ${message}\n`);
    process.exit(1);
  }
  announce(server.url, config, notices, logger);
  onSignals(() => server.close(), config.shutdownGraceMs + 5000);
}

async function demo(args: string[]): Promise<void> {
  const { values } = (() => {
    try {
      return parseArgs({
        args,
        options: {
          host: { type: 'string' },
          port: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (error) {
      return usageError((error as Error).message, 'herald demo --help');
    }
  })();
  if (values.help) {
    process.stdout.write(DEMO_USAGE);
    return;
  }
  const portText = values.port ?? process.env.HERALD_PORT ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    usageError(
      `--port must be an integer from 0 to 65535 (got "${portText}")`,
      'herald demo --help',
    );
  }
  try {
    const server = await startDemoServer({ host: values.host ?? process.env.HERALD_HOST, port });
    process.stdout.write(`Herald demo: open ${server.url} (stream at ${server.url}events)\n`);
    onSignals(() => server.close(), 10_000);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') {
      process.stderr.write(
        `herald demo: port ${port} is already in use; pick another with --port\n`,
      );
      process.exit(1);
    }
    throw error;
  }
}

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case 'serve':
    await serve(rest);
    break;
  case 'demo':
    await demo(rest);
    break;
  case '-v':
  case '--version':
  case 'version':
    process.stdout.write(`${version()}\n`);
    break;
  case '-h':
  case '--help':
  case 'help':
    process.stdout.write(USAGE);
    break;
  case undefined:
    process.stderr.write(USAGE);
    process.exit(2);
    break;
  default:
    usageError(`unknown command "${command}"`, 'herald --help');
}
