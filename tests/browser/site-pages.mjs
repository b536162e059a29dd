// Opens article pages built by real site generators (tests/e2e/site-generators.sh
// builds and serves them) in Debian's Chromium and checks that the comments
// render. Prints one "ok   - ..." or "FAIL - ..." line per check; exits 1 on
// any failure.
// SPDX-License-Identifier: AGPL-3.0-or-later
//
//   node site-pages.mjs COMMENTS NAME=URL=DATA_SRC...
//
// COMMENTS is the number of comments the article has; for each page, NAME
// labels it, URL is the article page and DATA_SRC the path of comments.json
// its snippet's data-src must lead to. Requests to any origin but the page's own
// are refused (the commenters' avatars), so nothing leaves the machine.
//
// Environment: MC_CHROMIUM (default /usr/bin/chromium), MC_TEST_OUT
// (screenshots, default <repo>/target/browser-screenshots).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = process.env.MC_TEST_OUT || path.join(HERE, '../../target/browser-screenshots');
const CHROMIUM = process.env.MC_CHROMIUM || '/usr/bin/chromium';

let failed = 0;
const ok = (msg) => console.log(`ok   - ${msg}`);
const bad = (msg) => { failed += 1; console.log(`FAIL - ${msg}`); };
const expect = (msg, want, got) => (want === got ? ok(`${msg}: ${got}`) : bad(`${msg}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`));

async function checkPage(browser, comments, name, url, dataSrc) {
  const origin = new URL(url).origin;
  const context = await browser.newContext();
  const page = await context.newPage();
  const own = [];
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (new URL(u).origin === origin) return route.continue();
    return route.abort();
  });
  page.on('response', (r) => { if (new URL(r.url()).origin === origin) own.push([r.status(), new URL(r.url()).pathname]); });
  page.on('pageerror', (e) => bad(`${name}: script error on the page: ${e.message}`));
  try {
    const res = await page.goto(url, { timeout: 15000 });
    expect(`${name}: the article page ${new URL(url).pathname}`, 200, res ? res.status() : 0);
    const box = page.locator('.mastodon-comments');
    const count = await box.count();
    expect(`${name}: one comments element`, 1, count);
    if (count !== 1) return;
    const attr = (await box.first().getAttribute('data-src')) || '';
    expect(`${name}: data-src "${attr}" made by the snippet, as a path`, dataSrc, new URL(attr, url).pathname);
    try {
      await page.waitForSelector('.mastodon-comments[data-mc-state="done"], .mastodon-comments[data-mc-state="error"]', { timeout: 20000 });
    } catch {
      bad(`${name}: the script never finished (data-mc-state ${await box.first().getAttribute('data-mc-state')})`);
    }
    expect(`${name}: data-mc-state`, 'done', await box.first().getAttribute('data-mc-state'));
    expect(`${name}: comments rendered`, comments, await box.locator('[data-comment-id]').count());
    expect(`${name}: the Comments heading`, 'Comments', ((await box.locator('h2').first().textContent({ timeout: 2000 }).catch(() => '')) || '').trim());
    const fetched = own.filter(([, p]) => p === dataSrc).map(([s]) => s);
    expect(`${name}: ${dataSrc} fetched through the web server`, '200', fetched.join(','));
    const missing = own.filter(([s]) => s >= 400).map(([s, p]) => `${s} ${p}`);
    if (missing.length === 0) ok(`${name}: every file from the site loaded (${own.length} requests)`);
    else bad(`${name}: requests to the site failed: ${missing.join(', ')}`);
    const sheets = await page.evaluate(() => [...document.styleSheets].filter((s) => (s.href || '').endsWith('/mastodon-comments.css')).length);
    expect(`${name}: the style sheet applies`, 1, sheets);
    fs.mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, `site-${name}.png`), fullPage: true });
  } catch (e) {
    bad(`${name}: ${e.message}`);
  } finally {
    await context.close();
  }
}

const [comments, ...pages] = process.argv.slice(2);
if (!comments || pages.length === 0) {
  console.error('usage: node site-pages.mjs COMMENTS NAME=URL=DATA_SRC...');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const p of pages) {
    const [name, url, dataSrc] = p.split('=');
    await checkPage(browser, Number(comments), name, url, dataSrc);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
