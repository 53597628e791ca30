#!/usr/bin/env node
/**
 * The `herald` command: `herald serve` runs the hub, `herald token` / `publish` / `tail` talk to
 * one, `herald demo` serves the demo page. No logic lives here: arguments go to
 * `server/config.ts` or `commands/`, the configuration to `server/app.ts`.
 * @packageDocumentation
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PUBLISH_USAGE, publishCommand } from './commands/publish.js';
import { announce } from './commands/serve.js';
import { TAIL_USAGE, tailCommand } from './commands/tail.js';
import { mintToken, TOKEN_USAGE } from './commands/token.js';
import { formatServeHelp, HeraldConfigError, loadConfig, suggest } from './server/config.js';
import { startDemoServer } from './server/demo.js';
import { createLogger } from './server/logger.js';

const USAGE = `Usage: herald <command> [options]

Commands:
  serve       Run the hub: Mercure-compatible publish/subscribe over Server-Sent Events.
              herald serve --help lists its options; herald serve --dev is the quick start.
  token       Mint a publisher's or subscriber's JWT with the hub's configured key.
  publish     Publish one update to a hub: herald publish <topic> [data].
  tail        Print a hub's events as they arrive: herald tail <topic selector>...
  demo        Serve a live clock and stock ticker over Server-Sent Events, with a web page.

herald <command> --help describes each.

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

/** Whether `args` asks for help (before anything else is checked). */
function wantsHelp(args: string[], usage: string): boolean {
  if (!args.includes('--help') && !args.includes('-h')) return false;
  process.stdout.write(usage);
  return true;
}

/** Runs a command's work; a {@link HeraldConfigError} is a usage error (exit 2), others exit 1. */
async function command(name: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof HeraldConfigError) usageError(error.message, `herald ${name} --help`);
    process.stderr.write(`herald ${name}: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

async function token(args: string[]): Promise<void> {
  if (wantsHelp(args, TOKEN_USAGE)) return;
  await command('token', async () => {
    const minted = await mintToken(args, process.env);
    process.stderr.write(`${minted.summary}\n`);
    process.stdout.write(`${minted.token}\n`);
  });
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, '');
}

async function publish(args: string[]): Promise<void> {
  if (wantsHelp(args, PUBLISH_USAGE)) return;
  await command('publish', async () => {
    process.stdout.write(`${await publishCommand(args, process.env, readStdin)}\n`);
  });
}

async function tail(args: string[]): Promise<void> {
  if (wantsHelp(args, TAIL_USAGE)) return;
  await command('tail', async () => {
    const running = tailCommand(args, process.env);
    const stop = (): void => running.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.exitCode = await running.done;
  });
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

const COMMANDS = ['serve', 'token', 'publish', 'tail', 'demo', 'help', 'version'];
const [name, ...rest] = process.argv.slice(2);
switch (name) {
  case 'serve':
    await serve(rest);
    break;
  case 'demo':
    await demo(rest);
    break;
  case 'token':
    await token(rest);
    break;
  case 'publish':
    await publish(rest);
    break;
  case 'tail':
    await tail(rest);
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
    usageError(`unknown command "${name}"${suggest(name, COMMANDS)}`, 'herald --help');
}
