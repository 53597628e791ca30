import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseDashboardTemplate } from '../../src/server/dashboard/page.js';
import { inlineDashboardAssets } from '../../src/server/dashboard/page-build.js';

// The dashboard page's template: the build inlines the bundle and the style into index.html,
// refusing code that would end its element; the server fills in the configuration, drops the
// token field when the page carries a token, and names the inline script and style in its CSP.

const INDEX = `<!doctype html>
<html><head><link rel="stylesheet" href="app.css"></head><body>
<form><label id="publish-token-field"><span>Token</span><input id="publish-token"></label></form>
<script type="application/json" id="dashboard-config">{}</script>
<script src="app.js"></script>
</body></html>
`;

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('the dashboard page template', () => {
  it('inlines the script and the style in place of their links', () => {
    const page = inlineDashboardAssets(INDEX, 'run();\n', 'a{color:red}\n');
    assert.ok(page.includes('<style>a{color:red}</style></head>'));
    assert.ok(page.includes('<script>run();</script>\n</body>'));
    assert.ok(!page.includes('app.js') && !page.includes('app.css'));
  });

  it('refuses code that would end its element, and an index.html without its links', () => {
    assert.throws(() => inlineDashboardAssets(INDEX, 'x("</SCRIPT>")', ''), /<\/script/);
    assert.throws(() => inlineDashboardAssets(INDEX, 'x("<!--")', ''), /<!--/);
    assert.throws(() => inlineDashboardAssets(INDEX, '', 'a{content:"</style>"}'), /<\/style/);
    assert.throws(
      () => inlineDashboardAssets(INDEX.replace('<script src="app.js"></script>', ''), '', ''),
      /must hold <script src="app.js"><\/script> exactly once/,
    );
  });

  it('fills in the configuration, drops the token field with a token, hashes for the CSP', () => {
    const page = parseDashboardTemplate(inlineDashboardAssets(INDEX, 'run()', 'a{color:red}'));
    const csp = page.headers['content-security-policy'] ?? '';
    assert.ok(csp.includes(`script-src ${sha256('run()')};`), csp);
    assert.ok(csp.includes(`style-src ${sha256('a{color:red}')};`), csp);
    assert.equal(page.headers['cache-control'], 'no-store');

    const withToken = page.render({ hubPath: '/hub', publisherToken: '</script>' });
    assert.ok(!withToken.includes('publish-token'));
    assert.ok(
      withToken.includes(
        '<script type="application/json" id="dashboard-config">{"hubPath":"/hub","statsPath":"/dashboard/stats","dev":false,"publisherToken":"\\u003c/script\\u003e","tokenPath":"","tokenTtlMs":0}</script>',
      ),
    );
    const without = page.render({ hubPath: '/hub', dev: true });
    assert.ok(without.includes('<input id="publish-token">'));
    assert.match(without, /"dev":true/);
  });

  it('refuses a template without its configuration block or with a second inline script', () => {
    const page = inlineDashboardAssets(INDEX, 'run()', 'a{color:red}');
    assert.throws(
      () => parseDashboardTemplate(page.replace('id="dashboard-config"', '')),
      /must hold <label id="publish-token-field">/,
    );
    assert.throws(
      () => parseDashboardTemplate(page.replace('</body>', '<script>more()</script></body>')),
      /one inline <script>, not 2/,
    );
  });
});
