/**
 * The dashboard page the hub serves at `/`: live counters, the most subscribed topics, a
 * publish form and a live tail, in one self-contained HTML document (inline style and script,
 * nothing loaded from elsewhere). Its sources are `ui/index.html`, `ui/app.ts` and `ui/app.css`;
 * the build makes them one template (see ./page-build.ts), which this module fills in per view
 * with the page's configuration.
 * @packageDocumentation
 */

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildDashboardPage, DASHBOARD_PAGE_FILE } from './page-build.js';

/** Options of {@link renderDashboardPage}. */
export interface DashboardPageOptions {
  /** Dev mode: the page shows a "dev mode" badge. */
  dev?: boolean;
  /**
   * A publisher JWT to embed in the page, so that its publish form works as is (dev mode only:
   * anyone who can load the page can read it — so it must be short-lived, see `tokenPath`).
   * Without it the form asks for a token.
   */
  publisherToken?: string;
  /**
   * Where the page gets a fresh token (`POST`, answering `{ token, expiresIn }`): it does so
   * once half of `tokenTtlMs` has passed, before publishing, and when a publish gets a 401.
   */
  tokenPath?: string;
  /** Lifetime of `publisherToken` in ms. */
  tokenTtlMs?: number;
  /** Where the hub answers, e.g. `/.well-known/mercure`: the form POSTs to it, the tail GETs it. */
  hubPath: string;
  /** Where the `stats` event stream is. Default `/dashboard/stats`. */
  statsPath?: string;
}

/** What the page's script reads from the page: {@link DashboardPageOptions} with defaults. */
export interface DashboardConfig {
  /** See {@link DashboardPageOptions.hubPath}. */
  hubPath: string;
  /** See {@link DashboardPageOptions.statsPath}. */
  statsPath: string;
  /** See {@link DashboardPageOptions.dev}. */
  dev: boolean;
  /** See {@link DashboardPageOptions.publisherToken}; `''` when there is none. */
  publisherToken: string;
  /** See {@link DashboardPageOptions.tokenPath}; `''` when there is none. */
  tokenPath: string;
  /** See {@link DashboardPageOptions.tokenTtlMs}; 0 when there is none. */
  tokenTtlMs: number;
}

/** The page, ready to serve: its response headers and its HTML per view. */
export interface DashboardPage {
  /**
   * Response headers: never cached (the page may hold a token), not framed (the publish form
   * must not be clickjacked), and a Content-Security-Policy that runs only the page's own
   * script and style (by their SHA-256) and lets it talk to its own origin only.
   */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Renders the page for `options`: the configuration goes into a JSON data block (inert: it is
   * not a script), and the publisher-token field is left out when the page carries a token.
   *
   * The page reads `stats` events from `statsPath` (see `serveDashboardStats`), publishes with
   * `fetch` (`POST hubPath`, `application/x-www-form-urlencoded`, `Authorization: Bearer
   * <token>`), and tails a selector with `GET hubPath?topic=<selector>`, both streams read with
   * `herald/client`. Event data is only ever shown as text (`textContent`), never parsed as HTML.
   *
   * @returns the whole HTML document
   */
  render(options: DashboardPageOptions): string;
}

/** Where the page's configuration goes: a JSON data block, which no browser runs. */
const CONFIG_OPEN = '<script type="application/json" id="dashboard-config">';
/** The publisher-token field, left out when the page carries a token. */
const TOKEN_FIELD_OPEN = '<label id="publish-token-field">';

/**
 * JSON that is safe inside a `<script>` element: `<`, `>` and `&` become `\u003c`… so no
 * `</script>` or `<!--` can end or confuse the element; U+2028/U+2029 are escaped too.
 */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The CSP source of an inline element's text: `'sha256-…'`. */
function hashSource(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The text of the one `<tag>` (without attributes) in `html`. */
function onlyElement(html: string, tag: 'script' | 'style'): string {
  const matches = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  if (matches.length !== 1) {
    throw new Error(`the dashboard page must hold one inline <${tag}>, not ${matches.length}`);
  }
  return matches[0]![1]!;
}

/**
 * Reads a page template (what {@link buildDashboardPage} makes): where the configuration and
 * the token field go, and the hashes of its inline script and style for the CSP.
 *
 * @param template - the built page
 * @throws when the template lacks the configuration block, the token field, or holds other
 *   than one inline script and one inline style
 */
export function parseDashboardTemplate(template: string): DashboardPage {
  const configAt = template.indexOf(CONFIG_OPEN);
  const configEnd = template.indexOf('</script>', configAt);
  const fieldAt = template.indexOf(TOKEN_FIELD_OPEN);
  const fieldEnd = template.indexOf('</label>', fieldAt);
  if (configAt < 0 || fieldAt < 0 || fieldEnd < 0 || fieldEnd > configAt) {
    throw new Error(
      `the dashboard page must hold ${TOKEN_FIELD_OPEN}…</label> and then ${CONFIG_OPEN}`,
    );
  }
  const beforeField = template.slice(0, fieldAt);
  const field = template.slice(fieldAt, fieldEnd + '</label>'.length);
  const beforeConfig = template.slice(fieldEnd + '</label>'.length, configAt + CONFIG_OPEN.length);
  const afterConfig = template.slice(configEnd);
  const headers = Object.freeze({
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-security-policy':
      `default-src 'none'; script-src ${hashSource(onlyElement(template, 'script'))}; ` +
      `style-src ${hashSource(onlyElement(template, 'style'))}; connect-src 'self'; ` +
      "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  });
  return {
    headers,
    render(options) {
      const config: DashboardConfig = {
        hubPath: options.hubPath,
        statsPath: options.statsPath ?? '/dashboard/stats',
        dev: options.dev === true,
        publisherToken: options.publisherToken ?? '',
        tokenPath: options.tokenPath ?? '',
        tokenTtlMs: options.tokenTtlMs ?? 0,
      };
      return (
        beforeField +
        (options.publisherToken === undefined ? field : '') +
        beforeConfig +
        scriptJson(config) +
        afterConfig
      );
    },
  };
}

let loading: Promise<DashboardPage> | undefined;

/** The built page next to this module (dist/), or the page built from ui/ (the source tree). */
async function loadTemplate(): Promise<string> {
  const built = new URL(`./${DASHBOARD_PAGE_FILE}`, import.meta.url);
  try {
    return await readFile(built, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const ui = new URL('./ui/', import.meta.url);
  try {
    await readFile(new URL('app.ts', ui));
  } catch {
    throw new Error(
      `the dashboard page is not built: ${fileURLToPath(built)} is missing; run \`npm run build\``,
    );
  }
  return buildDashboardPage(fileURLToPath(ui));
}

/**
 * The dashboard page, loaded once per process: read from `dashboard.html` next to this module
 * (what `npm run build` writes), or, run from the source tree, built from `ui/` in memory with
 * esbuild. A failed load is tried again on the next call.
 *
 * @throws when the page is neither built nor buildable, or its template is malformed
 */
export function loadDashboardPage(): Promise<DashboardPage> {
  loading ??= loadTemplate()
    .then(parseDashboardTemplate)
    .catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
  return loading;
}
