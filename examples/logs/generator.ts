// A pretend application that writes a log file, so the example has something to tail when you
// give it no file. It appends realistic lines — HTTP requests, logins, background jobs, now and
// then an error with a stack trace (a burst of lines at once) — at `linesPerSecond` on average.
//
// In real life this is another process (your app, nginx, journald…); here it is a timer in the
// same process, but it talks to the server only through the file, exactly as another process
// would.
import { appendFileSync } from 'node:fs';

type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const int = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

const USERS = ['ada@example.com', 'linus@example.com', 'grace@example.com', 'josé@example.com'];
const PATHS = ['/api/orders', '/api/cart', '/api/products', '/api/search?q=lamp', '/api/users/me'];

/** One log message: its level, the service that wrote it, and the text. */
function message(): [Level, string, string] {
  const roll = Math.random();
  if (roll < 0.35) {
    const path = pick(PATHS);
    const ms = int(3, 90);
    return ['INFO', 'api', `${pick(['GET', 'GET', 'POST'])} ${path} 200 ${ms}ms`];
  }
  if (roll < 0.45)
    return ['DEBUG', 'db', `query orders.by_user ${int(1, 9)}.${int(0, 9)}ms rows=${int(0, 40)}`];
  if (roll < 0.55)
    return ['DEBUG', 'cache', `${pick(['hit', 'hit', 'miss'])} product:${int(100, 999)}`];
  if (roll < 0.65) return ['INFO', 'auth', `login ok user=${pick(USERS)}`];
  if (roll < 0.75)
    return ['INFO', 'worker', `job email.send#${int(1000, 9999)} done in ${int(40, 400)}ms`];
  if (roll < 0.83) return ['WARN', 'api', `slow request GET /api/reports ${int(900, 2500)}ms`];
  if (roll < 0.89)
    return [
      'WARN',
      'auth',
      `login failed user=${pick(USERS)} (bad password, attempt ${int(2, 5)})`,
    ];
  if (roll < 0.97) return ['WARN', 'db', `pool at ${int(85, 99)}% (${int(17, 20)}/20 connections)`];
  return ['ERROR', 'api', `POST /api/checkout 502 upstream payment-gateway timed out after 5000ms`];
}

function line(level: Level, service: string, text: string): string {
  return `${new Date().toISOString()} ${level.padEnd(5)} [${service}] ${text}\n`;
}

/** An error with its stack trace: several lines written at once, as a crashing job would. */
function stackTrace(): string {
  const job = `invoice.render#${int(100, 999)}`;
  return (
    line(
      'ERROR',
      'worker',
      `job ${job} failed: TypeError: Cannot read properties of undefined (reading 'total')`,
    ) +
    '    at renderInvoice (/srv/worker/jobs/invoice.js:88:17)\n' +
    '    at runJob (/srv/worker/queue.js:142:11)\n' +
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n'
  );
}

/**
 * Starts appending lines to `path` (creating it if needed).
 *
 * @param linesPerSecond - the average rate
 * @returns a function that stops the generator
 */
export function startGenerator(path: string, linesPerSecond: number): () => void {
  const TICK_MS = 100;
  let due = 0; // lines owed so far (a fraction carries over to the next tick)
  const timer = setInterval(() => {
    due += (linesPerSecond * TICK_MS) / 1000;
    let text = '';
    for (; due >= 1; due--) {
      if (Math.random() < 0.02) text += stackTrace();
      else text += line(...message());
    }
    // One write per tick: whole lines only, so a reader never sees half of one.
    if (text !== '') appendFileSync(path, text);
  }, TICK_MS);
  return () => clearInterval(timer);
}
