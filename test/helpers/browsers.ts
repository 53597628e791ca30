// The browsers a test can run the same page steps in — Chromium through playwright-core,
// Firefox ESR through puppeteer-core over WebDriver BiDi — behind the few steps those tests
// take: contexts (one SharedWorker each), tabs, navigation, waiting on and reading page state.
import type { Page as ChromiumPage } from 'playwright-core';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { chromiumSkipReason, launchChromium } from './chromium.js';
import { firefoxSkipReason, launchFirefox } from './firefox.js';

/** A tab. */
export interface TestPage {
  /** Navigates and waits for the load. */
  goto(url: string): Promise<void>;
  /** Resolves once `predicate` returns something truthy in the page. */
  waitFor(predicate: () => unknown): Promise<void>;
  /** Resolves once `predicate(arg)` returns something truthy in the page (`arg` is serialized). */
  waitFor<A>(predicate: (arg: A) => unknown, arg: A): Promise<void>;
  /** Runs `fn` in the page and resolves with its (awaited) result. */
  evaluate<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Runs `fn(arg)` in the page (`arg` is serialized) and resolves with its (awaited) result. */
  evaluate<T, A>(fn: (arg: A) => T | Promise<T>, arg: A): Promise<T>;
  /** Closes the tab. */
  close(): Promise<void>;
}

/** A browser context: its own storage, and so its own SharedWorkers. */
export interface TestContext {
  /** Opens a tab. */
  newPage(): Promise<TestPage>;
  /** Closes it with its tabs. */
  close(): Promise<void>;
}

/** A running browser. */
export interface TestBrowser {
  /** Opens a context. */
  newContext(): Promise<TestContext>;
  /** Closes the browser. */
  close(): Promise<void>;
}

/** A browser the tests may drive. */
export interface BrowserKind {
  /** Its name in test titles. */
  name: string;
  /** `undefined`, or why its tests are skipped (throws under CI=true when it is missing). */
  skip: string | undefined;
  /** Starts it. */
  launch(): Promise<TestBrowser>;
}

/** What the page steps need of one browser's page API, its argument passing made one shape. */
interface PageApi {
  goto(url: string): Promise<unknown>;
  waitForFunction(predicate: (arg: unknown) => unknown, arg: unknown): Promise<unknown>;
  evaluate(fn: (arg: unknown) => unknown, arg: unknown): Promise<unknown>;
  close(): Promise<void>;
}

function wrapPage(page: PageApi): TestPage {
  return {
    goto: async (url) => {
      await page.goto(url);
    },
    waitFor: async (predicate: (arg: unknown) => unknown, arg?: unknown) => {
      await page.waitForFunction(predicate, arg);
    },
    evaluate: (fn: (arg: unknown) => unknown, arg?: unknown) =>
      page.evaluate(fn, arg) as Promise<never>,
    close: () => page.close(),
  };
}

/** A playwright-core page: one argument after the function. */
function chromiumPage(page: ChromiumPage): TestPage {
  return wrapPage({
    goto: (url) => page.goto(url),
    waitForFunction: (predicate, arg) => page.waitForFunction(predicate, arg),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    close: () => page.close(),
  });
}

/** A puppeteer-core page: waitForFunction takes its options before the arguments. */
function firefoxPage(page: FirefoxPage): TestPage {
  return wrapPage({
    goto: (url) => page.goto(url),
    waitForFunction: (predicate, arg) => page.waitForFunction(predicate, {}, arg),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    close: () => page.close(),
  });
}

/** Chromium and Firefox ESR, each skipped when it is not installed or browsers are off. */
export function browserKinds(): BrowserKind[] {
  return [
    {
      name: 'Chromium',
      skip: chromiumSkipReason(),
      async launch() {
        const browser = await launchChromium();
        return {
          async newContext() {
            const context = await browser.newContext();
            return {
              newPage: async () => chromiumPage(await context.newPage()),
              close: () => context.close(),
            };
          },
          close: () => browser.close(),
        };
      },
    },
    {
      name: 'Firefox ESR',
      skip: firefoxSkipReason(),
      async launch() {
        const browser = await launchFirefox();
        return {
          async newContext() {
            const context = await browser.createBrowserContext();
            return {
              newPage: async () => firefoxPage(await context.newPage()),
              close: () => context.close(),
            };
          },
          close: () => browser.close(),
        };
      },
    },
  ];
}
