/**
 * Builds the dashboard page from its sources in `ui/`: `app.ts` (bundled with esbuild, with the
 * parts of `herald/client` it uses) and `app.css` (minified) are inlined into `index.html`, in
 * place of its `<script src="app.js">` and `<link rel="stylesheet" href="app.css">`. The result
 * is one self-contained document, the template {@link parseDashboardTemplate} reads.
 *
 * `npm run build` writes it to `dist/server/dashboard/dashboard.html`
 * (scripts/build-client-bundle.mjs); run from the source tree, the hub builds it in memory on
 * first use. esbuild is a development dependency: it is loaded only here.
 * @packageDocumentation
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file name of the built page, next to the compiled `page.js`. */
export const DASHBOARD_PAGE_FILE = 'dashboard.html';

/** What `index.html` links, and the build replaces with the inline bundle. */
const SCRIPT_TAG = '<script src="app.js"></script>';
/** What `index.html` links, and the build replaces with the inline style. */
const STYLE_TAG = '<link rel="stylesheet" href="app.css">';

/** Replaces the one occurrence of `tag` in `html`; throws when there is not exactly one. */
function replaceOnce(html: string, tag: string, replacement: string): string {
  const at = html.indexOf(tag);
  if (at < 0 || html.indexOf(tag, at + 1) >= 0) {
    throw new Error(`the dashboard's index.html must hold ${tag} exactly once`);
  }
  return html.slice(0, at) + replacement + html.slice(at + tag.length);
}

/**
 * Inlines `js` and `css` into `html` (the text of `ui/index.html`).
 *
 * @throws when `html` does not link app.js and app.css once each, or when the code holds a
 *   sequence that would end or confuse its element (`</script`, `</style`, `<!--`)
 */
export function inlineDashboardAssets(html: string, js: string, css: string): string {
  if (/<\/script|<!--/i.test(js)) {
    throw new Error('the dashboard bundle holds "</script" or "<!--": it cannot be inlined');
  }
  if (/<\/style/i.test(css)) {
    throw new Error('the dashboard style holds "</style": it cannot be inlined');
  }
  const styled = replaceOnce(html, STYLE_TAG, `<style>${css.trim()}</style>`);
  return replaceOnce(styled, SCRIPT_TAG, `<script>${js.trim()}</script>`);
}

/**
 * Bundles `app.ts` and `app.css` from `uiDir` with esbuild (minified, for browsers; nothing is
 * fetched) and inlines them into its `index.html`.
 *
 * @param uiDir - the folder holding index.html, app.ts and app.css
 * @returns the page template
 */
export async function buildDashboardPage(uiDir: string): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(uiDir, 'app.ts'), join(uiDir, 'app.css')],
    outdir: 'out',
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const output = (extension: string): string => {
    const file = result.outputFiles.find((f) => f.path.endsWith(extension));
    if (file === undefined) throw new Error(`esbuild wrote no ${extension} file for the dashboard`);
    return file.text;
  };
  const html = await readFile(join(uiDir, 'index.html'), 'utf8');
  return inlineDashboardAssets(html, output('.js'), output('.css'));
}
