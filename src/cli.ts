#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startDemoServer } from './server/demo.js';

const USAGE = `Usage: herald <command> [options]

Commands:
  demo        Serve a live clock and stock ticker over Server-Sent Events, with a web page.

Options:
  --host <host>   Interface to listen on (default: every interface; env HERALD_HOST)
  --port <port>   Port to listen on (default: 8080; env HERALD_PORT)
  -h, --help      Show this help
`;

function fail(message: string): never {
  process.stderr.write(`herald: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return fail((error as Error).message);
  }
})();

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const command = positionals[0] ?? 'demo';
if (command !== 'demo') fail(`unknown command "${command}"`);

const portText = values.port ?? process.env.HERALD_PORT ?? '8080';
const port = Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`--port must be an integer between 0 and 65535 (got "${portText}")`);
}

try {
  const demo = await startDemoServer({ host: values.host ?? process.env.HERALD_HOST, port });
  process.stdout.write(`Herald demo: open ${demo.url} (stream at ${demo.url}events)\n`);
  const stop = (): void => {
    demo.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  const err = error as NodeJS.ErrnoException;
  if (err.code === 'EADDRINUSE') fail(`port ${port} is already in use; pick another with --port`);
  throw error;
}
