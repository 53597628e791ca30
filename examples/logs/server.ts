// Herald example: a live log viewer — `tail -f` in the browser.
//
//   npm run example:logs                              → a demo app's log, generated for you
//   npm run example:logs -- /var/log/nginx/access.log → follow a file you have
//   npm run example:logs -- --cmd "ping -c 20 127.0.0.1" → run a command and follow its output
//
// Then open http://127.0.0.1:3004.
//
// How it fits together:
//
//   file ──tail──▶ batches of lines ──hub.publish(id = byte offset)──▶ hub ──SSE──▶ pages
//
// - Whatever the source, the server follows ONE file. A command's output is appended to a file
//   first; the demo generator writes a file too. So there is one code path, and every line has
//   a byte offset.
// - Each event is a batch of complete lines, and its id is the byte offset where the batch ends.
//   A page that reconnects sends `Last-Event-ID: <offset>` and gets exactly the lines after it.
// - Memory is bounded at every step for a fast producer (see README.md): the file is the buffer,
//   the hub's history and each viewer's queue have byte bounds, and the page keeps a fixed
//   number of lines.
//
// Environment: PORT (3004), HOST (127.0.0.1), DATA_DIR (where the demo log or the command's
// output is written; default a folder in the OS temp dir), LOG_FILE or LOG_CMD (instead of the
// arguments), LOG_RATE (demo lines per second; 6).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHub } from '../../src/index.js';
// Serves public/ and the herald/client bundle (built in memory): ../_shared/static.ts.
import { staticFiles } from '../_shared/static.js';
import { startGenerator } from './generator.js';
import { type LineBatch, readLastLines, tailFile } from './tail.js';

const PORT = Number(process.env.PORT ?? 3004);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? join(tmpdir(), 'herald-example-logs');
const LOG_RATE = Number(process.env.LOG_RATE ?? 6);

// The memory bounds, all in one place (README.md explains each).
/** The hub keeps at most this many events (batches) for replay… */
const HISTORY_EVENTS = 5000;
/** …and at most this many bytes of them. */
const HISTORY_BYTES = 8 * 1024 * 1024;
/** A viewer that falls this far behind is disconnected; it resumes from history. */
const QUEUE_BYTES = 256 * 1024;
/** At most this much of the file in one event. */
const MAX_BATCH_BYTES = 64 * 1024;
/** On start, history is rebuilt from the file's last lines: at most this many… */
const REBUILD_LINES = 2000;
/** …from at most its last this many bytes. */
const REBUILD_BYTES = 1024 * 1024;
/** A first-time page (no Last-Event-ID) gets this many recent events at once. */
const FIRST_VISIT_EVENTS = 40;

/** The one topic: every page sees every line (filtering happens in the page). */
const TOPIC = '/logs';

// 1. Where the lines come from. Everything ends up as a file we follow.
type Source =
  | { kind: 'file'; path: string }
  | { kind: 'command'; path: string; command: string }
  | { kind: 'demo'; path: string };

function chooseSource(args: string[]): Source {
  // `--cmd` takes the rest of the line as the command; otherwise the first argument is a file.
  const command = args[0] === '--cmd' ? args.slice(1).join(' ') : process.env.LOG_CMD;
  const file = args[0] !== '--cmd' ? (args[0] ?? process.env.LOG_FILE) : undefined;
  if (command) return { kind: 'command', command, path: join(DATA_DIR, 'command.log') };
  if (file) return { kind: 'file', path: resolve(file) };
  return { kind: 'demo', path: join(DATA_DIR, 'app.log') };
}

const source = chooseSource(process.argv.slice(2));

if (source.kind === 'file' && !existsSync(source.path)) {
  console.error(`logs: ${source.path} does not exist. Give the path of a log file to follow,`);
  console.error('      or nothing at all for the demo log (npm run example:logs).');
  process.exit(1);
}
if (source.kind !== 'file') {
  mkdirSync(DATA_DIR, { recursive: true });
  // Append, never truncate: offsets are ids, and an id must never name two different lines.
  if (!existsSync(source.path)) writeFileSync(source.path, '');
}

// 2. The hub, with bounded history and a bounded queue per viewer. A viewer that cannot keep
//    up is closed ('close'); its EventSource reconnects with Last-Event-ID and catches up from
//    history. ('drop-oldest' would keep it connected but silently lose lines: fine for a stock
//    ticker where only the latest price matters, wrong for logs.)
const hub = createHub({
  history: { maxEvents: HISTORY_EVENTS, maxBytes: HISTORY_BYTES },
  queueBytes: QUEUE_BYTES,
  overflow: 'close',
});

const publish = (batch: LineBatch) =>
  hub.publish({ topics: TOPIC, type: 'lines', id: String(batch.to), data: batch });

// 3. Rebuild history from the file itself: the log on disk survives a restart, so the hub's
//    memory does not have to. We no longer know where the previous run's batches ended, so we
//    publish one line per event: every line end becomes a valid id, and whatever offset a page
//    comes back with (always a line end) is found.
const recent = await readLastLines(source.path, REBUILD_BYTES, REBUILD_LINES);
for (let i = 0; i < recent.lines.length; i++) {
  const line = recent.lines[i]!;
  const to = recent.lines[i + 1]?.[0] ?? recent.end;
  await publish({ from: line[0], to, lines: [line] });
}

// 4. Follow the file from there on, one batch of lines per event.
let shuttingDown = false;
const tail = tailFile({
  path: source.path,
  from: recent.end,
  maxBatchBytes: MAX_BATCH_BYTES,
  onBatch: async (batch) => {
    await publish(batch);
  },
  onTruncated: (size, offset) => {
    console.error(
      `logs: ${source.path} shrank to ${size} bytes after ${offset} were read (truncated or rotated).`,
    );
    console.error(
      '      Byte offsets no longer name the same lines; restart the server to follow it again.',
    );
    void shutdown(1);
  },
  onError: (error) => {
    console.error('logs: cannot read', source.path, error);
    void shutdown(1);
  },
});

// 5. Start the producer, if it is ours.
let stopProducer = (): void => {};
if (source.kind === 'demo') {
  stopProducer = startGenerator(source.path, LOG_RATE);
} else if (source.kind === 'command') {
  const out = createWriteStream(source.path, { flags: 'a' });
  out.write(`[herald] $ ${source.command}   (started ${new Date().toISOString()})\n`);
  // Runs through the shell, like a line typed in a terminal: only give it commands you trust.
  const child = spawn(source.command, { shell: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  child.on('exit', (code, signal) => {
    out.write(`[herald] process exited (${signal ?? `code ${code}`})\n`);
  });
  stopProducer = () => child.kill();
}

// 6. HTTP: the page, a little status for its footer, and the event stream.
const serveStatic = await staticFiles(fileURLToPath(new URL('./public', import.meta.url)));
const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');

  if (url.pathname === '/events') {
    // With `Last-Event-ID` (a byte offset), the hub replays the lines after it, then goes live.
    // Without it (a first visit), the newest FIRST_VISIT_EVENTS events come first.
    hub.subscribe(req, res, { topics: [TOPIC], replayLast: FIRST_VISIT_EVENTS });
    return;
  }
  if (url.pathname === '/api/status') {
    const stats = hub.stats();
    json(res, 200, {
      source: source.kind,
      path: source.path,
      command: source.kind === 'command' ? source.command : undefined,
      offset: tail.offset,
      size: (await stat(source.path).catch(() => ({ size: 0 }))).size,
      viewers: stats.subscribers,
      history: stats.history,
      limits: {
        historyEvents: HISTORY_EVENTS,
        historyBytes: HISTORY_BYTES,
        queueBytes: QUEUE_BYTES,
        batchBytes: MAX_BATCH_BYTES,
      },
    });
    return;
  }
  if (await serveStatic(req, res)) return;
  json(res, 404, { error: `nothing at ${url.pathname}` });
});

server.listen(PORT, HOST, () => {
  console.log(
    `following ${source.kind === 'command' ? `\`${source.command}\` → ` : ''}${source.path}`,
  );
  console.log(`listening on http://${HOST}:${PORT}`);
});

// Ctrl-C / SIGTERM: stop the producer and the tail; the hub ends every stream with a `retry:`
// hint, so open pages come back (with Last-Event-ID) once the server runs again.
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  stopProducer();
  await tail.stop();
  await hub.close();
  server.close(() => process.exit(code));
  server.closeAllConnections();
}
process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));
