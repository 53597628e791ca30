// The end-to-end harness for `examples/<name>/`: run an example's server as a real child
// process (so it can be SIGKILLed and restarted, as a crash would), drive its page in one
// shared headless Chromium, and save screenshots as test artifacts.
//
//   const app = await startExample('ticker', { DATA_DIR: dir });
//   const page = await newPage();
//   await page.goto(app.url);
//   await app.kill();      // SIGKILL: no graceful close, no retry hint
//   await app.restart();   // same port, same env: the page's reconnection finds it again
//   await screenshot(page, 'ticker');   // → test-results/screenshots/ticker.png
//   after(async () => { await app.stop(); await closeBrowser(); });
//
// API as agreed for every example's e2e test; additions (below the agreed four exports):
// `pageErrors(page)` lists uncaught page errors, `e2eSkipReason()` is Chromium's skip reason,
// `useExample(name, env)` is the before/after setup every e2e file shares (a fresh DATA_DIR,
// the server, cleanup), and `waitForStatus`, `receivedIds`, `waitForReceived` and
// `publishedEvents` read the conventions the example pages and servers share (`#status`,
// `window.__received`, `GET /debug/published`).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { withTimeout } from './async.js';
import { chromiumSkipReason, launchChromium } from './chromium.js';
import { getFreePort } from './net.js';

/** The repository root (examples are run from here, as `npm run example:<name>` does). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where {@link screenshot} writes. */
export const SCREENSHOT_DIR = join(ROOT, 'test-results', 'screenshots');
/** How long an example may take to print its URL (tsx compiles it, esbuild bundles the client). */
const START_TIMEOUT_MS = 20_000;
/** How long `stop()` waits for a graceful exit before SIGKILL. */
const STOP_GRACE_MS = 5_000;

/** A running example server. */
export interface ExampleApp {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  url: string;
  /** The port, the same across restarts. */
  port: number;
  /** SIGTERM, then SIGKILL if it has not exited after a grace period. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: no graceful close), resolving once the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same env (stopping it first if running). */
  restart(): Promise<void>;
  /** Everything the server printed so far (stdout and stderr, every run). */
  output(): string;
}

/** Every live example process, killed when the test process exits (a safety net). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return once(child, 'exit').then(() => undefined);
}

/**
 * Spawns `node --import tsx examples/<name>/server.ts` with `PORT=<port>` (a free port on first
 * start, the same port on restart) and `env` on top of the test's environment; resolves when the
 * server prints `listening on http://127.0.0.1:<port>`. Rejects with the server's output when it
 * exits first or does not print it within 20 s.
 */
export async function startExample(
  name: string,
  env: Record<string, string> = {},
): Promise<ExampleApp> {
  const port = await getFreePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    // The test runner's own variables are not the server's business.
    const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
    const proc = spawn(process.execPath, ['--import', 'tsx', join('examples', name, 'server.ts')], {
      cwd: ROOT,
      env: { ...inherited, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    // Readiness looks at this run's output only: earlier runs printed the same URL.
    let run = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        log += text;
        run += text;
        if (run.includes(`listening on ${url}`)) resolve();
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.once('exit', (code, sig) =>
        reject(
          new Error(
            `example ${name} exited (code ${code}, signal ${sig}) before listening:\n${run}`,
          ),
        ),
      );
    });
    try {
      await withTimeout(ready, `example ${name} to print "listening on ${url}"`, START_TIMEOUT_MS);
    } catch (error) {
      proc.kill('SIGKILL');
      await exited(proc);
      throw new Error(`${(error as Error).message}\noutput:\n${run}`);
    }
  };

  const signal = async (sig: NodeJS.Signals, graceMs?: number): Promise<void> => {
    const proc = child;
    if (proc === undefined) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    if (graceMs === undefined) {
      await exited(proc);
      return;
    }
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited(proc);
    clearTimeout(timer);
  };

  await start();
  return {
    url,
    port,
    output: () => log,
    stop: () => signal('SIGTERM', STOP_GRACE_MS),
    kill: () => signal('SIGKILL'),
    async restart() {
      await signal('SIGTERM', STOP_GRACE_MS);
      await start();
    },
  };
}

let browser: Promise<Browser> | undefined;
const errors = new WeakMap<Page, string[]>();

/**
 * A new page (in its own browser context: no shared storage or cookies) of one headless
 * Chromium shared by every e2e test in the process, launched on first use. Call
 * {@link closeBrowser} in an `after` hook, or the test process stays alive. Uncaught page
 * errors are collected for {@link pageErrors}.
 */
export async function newPage(): Promise<Page> {
  browser ??= launchChromium();
  const context = await (await browser).newContext({
    viewport: { width: 1100, height: 720 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const list: string[] = [];
  errors.set(page, list);
  page.on('pageerror', (error) => list.push(error.message));
  page.once('close', () => {
    context.close().catch(() => {});
  });
  return page;
}

/** Uncaught errors thrown in `page` so far (from a page made by {@link newPage}). */
export function pageErrors(page: Page): readonly string[] {
  return errors.get(page) ?? [];
}

/** Closes the shared Chromium (if it was launched). Safe to call more than once. */
export async function closeBrowser(): Promise<void> {
  const launched = browser;
  browser = undefined;
  if (launched !== undefined) await (await launched).close();
}

/**
 * Saves a screenshot of the whole page (not only the viewport) to
 * `test-results/screenshots/<name>.png` and returns its path.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** `undefined` when Chromium is installed, else the skip reason (throws under CI=true). */
export function e2eSkipReason(): string | undefined {
  return chromiumSkipReason();
}

/** What {@link useExample} gives an e2e test file. */
export interface ExampleFixture {
  /** Chromium's skip reason (pass it to `test`), `undefined` when the tests can run. */
  readonly skip: string | undefined;
  /** The running example; only inside a test that is not skipped. */
  readonly app: ExampleApp;
  /** The example's `DATA_DIR`: a fresh temporary folder, deleted after the tests. */
  readonly dataDir: string;
}

/**
 * The setup every example's e2e file shares, as `node:test` hooks: `before` the tests, start
 * `examples/<name>` with a fresh temporary `DATA_DIR` (and `env` on top); `after` them, stop it,
 * close the shared Chromium and delete the folder. Nothing starts when Chromium is missing.
 *
 *   const example = useExample('ticker', { TICK_MS: '100' });
 *   test('…', { skip: example.skip }, async () => { await page.goto(example.app.url); });
 */
export function useExample(name: string, env: Record<string, string> = {}): ExampleFixture {
  const skip = e2eSkipReason();
  let app: ExampleApp | undefined;
  let dataDir: string | undefined;
  before(async () => {
    if (skip !== undefined) return;
    dataDir = mkdtempSync(join(tmpdir(), `herald-e2e-${name}-`));
    app = await startExample(name, { DATA_DIR: dataDir, ...env });
  });
  after(async () => {
    try {
      await app?.stop();
      await closeBrowser();
    } finally {
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    }
  });
  const notStarted = (): Error =>
    new Error(`example ${name} is not running: use the fixture inside a test that is not skipped`);
  return {
    skip,
    get app() {
      if (app === undefined) throw notStarted();
      return app;
    },
    get dataDir() {
      if (dataDir === undefined) throw notStarted();
      return dataDir;
    },
  };
}

/** Waits until the page's `#status` element reads `text` (e.g. `live`, `reconnecting`). */
export function waitForStatus(page: Page, text: string): Promise<unknown> {
  return page.waitForFunction((t) => document.getElementById('status')?.textContent === t, text);
}

/** The page keeps the id of every event it received in `window.__received`, in order. */
type ReceivingWindow = Window & { __received?: string[] };

/** A copy of the ids the page has received so far (`window.__received`). */
export function receivedIds(page: Page): Promise<string[]> {
  return page.evaluate(() => ((window as ReceivingWindow).__received ?? []).slice());
}

/** Waits until the page has received at least `n` events in all (`window.__received`). */
export function waitForReceived(page: Page, n: number): Promise<unknown> {
  return page.waitForFunction(
    (count) => ((window as ReceivingWindow).__received?.length ?? 0) >= count,
    n,
  );
}

/**
 * Every event the example's server has published (history included), oldest first, from its
 * `GET /debug/published` route; each example adds the fields its test checks to `id`.
 */
export async function publishedEvents<T extends { id: string }>(app: ExampleApp): Promise<T[]> {
  const response = await fetch(`${app.url}/debug/published`);
  if (!response.ok) throw new Error(`GET /debug/published answered ${response.status}`);
  return (await response.json()) as T[];
}
