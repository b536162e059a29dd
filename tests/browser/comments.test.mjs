// Browser tests of web/mastodon-comments.js, served by the daemon's demo mode,
// in Debian's Chromium driven by playwright-core. Run with ./run.sh.
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Environment:
//   MC_BIN        the mastodon-comments binary (run.sh sets it)
//   MC_TEST_OUT   directory for the PNG screenshots (default: <repo>/target/browser-screenshots)
//   MC_CHROMIUM   the browser (default /usr/bin/chromium)
//   MC_README_SCREENSHOT  if set, also write the a-simple-thread page, 1000 px wide, to this path
//
// Every request to a host other than the daemon's loopback address is answered
// by the test with a generated placeholder image and logged; nothing leaves
// the machine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const FIXTURES = path.join(REPO, 'tests/fixtures/mastodon');
const BIN = process.env.MC_BIN || path.join(REPO, 'target/debug/mastodon-comments');
const OUT = process.env.MC_TEST_OUT || path.join(REPO, 'target/browser-screenshots');
const CHROMIUM = process.env.MC_CHROMIUM || '/usr/bin/chromium';
const LEGACY_PAGE = fs.readFileSync(path.join(HERE, 'legacy-jquery-style.html'), 'utf8');
// The page, script and style sheet of this tree. The daemon embeds web/ at
// build time; the pages below get these files from disk, so an edit to web/
// is tested without a rebuild, and one test checks that the binary serves the
// same bytes (it fails when the binary is older than web/).
const WEB = path.join(REPO, 'web');
const WEB_FILES = {
  '/mastodon-comments.js': ['text/javascript; charset=utf-8', 'mastodon-comments.js'],
  '/mastodon-comments.css': ['text/css; charset=utf-8', 'mastodon-comments.css'],
};
const webFile = (name) => fs.readFileSync(path.join(WEB, name));

fs.mkdirSync(OUT, { recursive: true });

function expectOf(scenario) {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, scenario, 'expect.json'), 'utf8'));
}

// ------------------------------------------------------------------ daemon

const daemons = new Set();

async function startDemo(scenario) {
  const args = ['demo', '--listen', '127.0.0.1:0'];
  if (scenario) args.push('--fixtures', path.join(FIXTURES, scenario));
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  daemons.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 100000) stderr = stderr.slice(-50000); });
  const base = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`demo did not print its address within 30 s\nstdout: ${stdout}\nstderr: ${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /demo: open (http:\/\/127\.0\.0\.1:(\d+))\//.exec(stdout);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`demo exited (${code ?? sig}) before printing its address\nstdout: ${stdout}\nstderr: ${stderr}`)); });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
  child.stdout.resume();
  return {
    base,
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) { daemons.delete(child); return; }
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      daemons.delete(child);
    },
  };
}

process.on('exit', () => { for (const c of daemons) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

// ------------------------------------------------------------------ browser

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

// A deterministic placeholder picture per URL, so screenshots show something
// where the commenters' avatars and media would be.
function placeholderSvg(url) {
  let h = 0;
  for (const ch of url) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  const hue = h % 360;
  if (/emoji/.test(url)) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">` +
      `<circle cx="32" cy="32" r="28" fill="hsl(${hue} 80% 60%)"/><circle cx="23" cy="26" r="4" fill="#333"/>` +
      `<circle cx="41" cy="26" r="4" fill="#333"/><path d="M20 40 Q32 50 44 40" stroke="#333" stroke-width="4" fill="none"/></svg>`;
  }
  if (/media_attachments/.test(url)) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">` +
      `<rect width="320" height="240" fill="hsl(${hue} 50% 78%)"/><circle cx="250" cy="60" r="28" fill="hsl(${(hue + 40) % 360} 90% 70%)"/>` +
      `<path d="M0 240 L110 110 L180 190 L230 140 L320 240 Z" fill="hsl(${hue} 35% 45%)"/></svg>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">` +
    `<rect width="96" height="96" fill="hsl(${hue} 55% 62%)"/>` +
    `<circle cx="48" cy="38" r="18" fill="hsl(${hue} 45% 85%)"/>` +
    `<ellipse cx="48" cy="92" rx="32" ry="26" fill="hsl(${hue} 45% 85%)"/></svg>`;
}

// Starts the demo for a scenario, opens a trapped page on it, runs `fn`,
// and always closes both.
async function inDemoPage(scenario, pageOptions, fn) {
  const demo = await startDemo(scenario);
  const { context, page, log } = await openPage({ base: demo.base, ...pageOptions });
  try {
    await fn({ demo, context, page, log });
  } finally {
    await context.close();
    await demo.stop();
  }
}

// Opens a page with traps: dialogs, alert/confirm/prompt/print/open calls,
// page errors, navigations of the main frame, every request.
async function openPage({ base, colorScheme = 'light', width = 1000, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme, locale: 'en-GB', timezoneId: 'UTC', serviceWorkers: 'block' });
  const page = await context.newPage();
  const log = { dialogs: [], errors: [], navigations: [], requests: [], external: [] };
  const origin = base ? new URL(base).origin : null;
  await context.route('**/*', (route) => {
    const url = route.request().url();
    let u;
    try { u = new URL(url); } catch { return route.abort(); }
    if (u.origin === origin) {
      if (WEB_FILES[u.pathname]) {
        const [contentType, name] = WEB_FILES[u.pathname];
        return route.fulfill({ status: 200, contentType, body: webFile(name) });
      }
      if (u.pathname.length > 1 && u.pathname.endsWith('/') && route.request().resourceType() === 'document') {
        return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: webFile('demo.html') });
      }
      return route.continue();
    }
    log.external.push(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') {
      return route.fulfill({ status: 200, contentType: 'image/svg+xml', body: placeholderSvg(url) });
    }
    return route.abort();
  });
  await context.addInitScript(() => {
    window.__mcTrap = [];
    for (const name of ['alert', 'confirm', 'prompt', 'print', 'open']) {
      const orig = window[name];
      window[name] = function (...args) {
        window.__mcTrap.push(name + '(' + args.map(String).join(', ') + ')');
        return name === 'open' ? null : orig.apply(window, args);
      };
    }
  });
  page.on('dialog', (d) => { log.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => log.errors.push(String(e)));
  page.on('request', (r) => log.requests.push(r.url()));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) log.navigations.push(f.url()); });
  return { context, page, log };
}

async function waitRendered(page) {
  await page.waitForSelector('.mastodon-comments[data-mc-state="done"], .mastodon-comments[data-mc-state="error"]', { timeout: 20000 });
}

async function screenshot(page, name) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

function articleUrl(base, exp) {
  return base + exp.article.path + '/';
}

// Elements, attributes and URLs that must not appear in rendered output.
// Runs in the page; returns a list of problems.
function domProblems({ rootSelector, requireAbsoluteUrls, allowedScripts }) {
  const problems = [];
  const roots = [...document.querySelectorAll(rootSelector)];
  if (!roots.length) return [`no ${rootSelector}`];
  const badTags = ['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'svg', 'math', 'style',
    'link', 'meta', 'base', 'form', 'input', 'textarea', 'select', 'video', 'audio', 'source', 'portal'];
  for (const e of roots.flatMap((r) => [...r.querySelectorAll('*')])) {
    if (badTags.includes(e.localName)) problems.push(`element <${e.localName}>`);
    for (const a of e.attributes) {
      const name = a.name.toLowerCase();
      const value = a.value;
      if (name.startsWith('on')) problems.push(`attribute ${name} on <${e.localName}>`);
      if (['style', 'srcdoc', 'formaction', 'xlink:href', 'background', 'poster', 'srcset', 'action'].includes(name)) {
        problems.push(`attribute ${name} on <${e.localName}>`);
      }
      const squashed = value.replace(/[\u0000-\u0020\u007f]/g, '').toLowerCase();
      if (/^(javascript|vbscript|data):/.test(squashed)) problems.push(`${name}="${value}" on <${e.localName}>`);
      if (['href', 'src', 'cite'].includes(name) && requireAbsoluteUrls) {
        let ok = false;
        try { const u = new URL(value); ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.href === value; } catch { ok = false; }
        if (!ok || /[\s"'<>`]/.test(value)) problems.push(`${name}="${value}" on <${e.localName}> is not a clean absolute http(s) URL`);
      }
    }
  }
  const scripts = [...document.querySelectorAll('script')].map((s) => s.src ? new URL(s.src).pathname : 'inline');
  const extra = scripts.filter((s) => !allowedScripts.includes(s));
  if (extra.length || scripts.length !== allowedScripts.length) problems.push(`scripts in the document: ${JSON.stringify(scripts)}`);
  if (document.querySelectorAll('iframe, frame, object, embed').length) problems.push('frames or plugins in the document');
  if (document.querySelectorAll('base, meta[http-equiv]').length) problems.push('<base> or <meta http-equiv> in the document');
  return problems;
}

// Structure of the rendered thread: id -> {parent (closest ancestor comment id or null), depth, top}
async function threadOf(page) {
  return page.$$eval('[data-comment-id]', (els) => Object.fromEntries(els.map((e) => {
    const parentLi = e.parentElement.closest('[data-comment-id]');
    return [e.getAttribute('data-comment-id'), {
      parent: parentLi ? parentLi.getAttribute('data-comment-id') : null,
      top: e.parentElement.classList.contains('mc-thread'),
      index: [...e.parentElement.children].indexOf(e),
    }];
  })));
}

// Bidi controls and zero-width characters may be kept (isolated) or stripped.
const stripBidi = (s) => s.replace(/[\u0000\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '');

// ------------------------------------------------------------------ tests

test('a-simple-thread: five comments, nesting, order, stats, avatars, links', async () => {
  const exp = expectOf('a-simple-thread');
  const demo = await startDemo('a-simple-thread');
  const { context, page, log } = await openPage({ base: demo.base });
  try {
    // The demo's start page redirects to the scenario's article.
    await page.goto(demo.base + '/');
    assert.equal(new URL(page.url()).pathname, exp.article.path + '/');
    await waitRendered(page);
    assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');

    const thread = await threadOf(page);
    const ids = Object.keys(exp.comments);
    assert.deepEqual(Object.keys(thread).sort(), [...ids].sort(), 'rendered comment ids');
    for (const [id, c] of Object.entries(exp.comments)) {
      if (c.reply_to === exp.root_id) {
        assert.equal(thread[id].top, true, `${id} at the top level`);
      } else {
        assert.equal(thread[id].parent, c.reply_to, `${id} nested in ${c.reply_to}`);
      }
    }
    // 116843939838175762's element is inside 116843824087040785's element.
    assert.equal(await page.locator('[data-comment-id="116843824087040785"] [data-comment-id="116843939838175762"]').count(), 1);

    // Document order = thread order, oldest first at each level.
    const order = await page.$$eval('[data-comment-id]', (els) => els.map((e) => e.getAttribute('data-comment-id')));
    assert.deepEqual(order, exp.comment_tree_order);

    // Stats line and the link to the announcement.
    const statsText = await page.textContent('.mc-stats');
    assert.match(statsText, new RegExp(`\\b${exp.stats.favs} favourites\\b`));
    assert.match(statsText, new RegExp(`\\b${exp.stats.reblogs} boosts\\b`));
    assert.match(statsText, new RegExp(`\\b${exp.stats.replies} replies\\b`));
    assert.equal(await page.getAttribute('.mc-stats a', 'href'), exp.stats.url);
    assert.equal(await page.getAttribute('a.mc-reply-link', 'href'), exp.stats.url);
    assert.match(await page.textContent('a.mc-reply-link'), /Reply on Mastodon/);
    assert.match(await page.textContent('.mc-reply-note'), /search/);

    // Landmark and heading.
    const labelledBy = await page.getAttribute('section.mc-comments', 'aria-labelledby');
    assert.ok(labelledBy);
    assert.equal((await page.textContent(`[id="${labelledBy}"]`)).trim(), 'Comments');

    for (const [id, c] of Object.entries(exp.comments)) {
      const li = page.locator(`[data-comment-id="${id}"]`);
      const own = li.locator(':scope > .mc-body');
      assert.equal(stripBidi((await own.locator('.mc-name').textContent()).trim()), stripBidi(c.author.display_name_text), `${id} name`);
      assert.equal(await own.locator('a.mc-author').getAttribute('href'), c.author.url, `${id} author link`);
      const avatar = own.locator('img.mc-avatar');
      assert.equal(await avatar.getAttribute('src'), c.author.avatar, `${id} avatar`);
      assert.equal(await avatar.getAttribute('loading'), 'lazy');
      assert.equal(await avatar.getAttribute('referrerpolicy'), 'no-referrer');
      assert.equal(await avatar.getAttribute('width'), '48');
      assert.equal(await avatar.getAttribute('height'), '48');
      assert.ok((await avatar.getAttribute('alt')).includes(c.author.display_name_text));
      assert.equal(await own.locator('time').getAttribute('datetime'), c.date, `${id} date`);
      assert.equal(await own.locator('a.mc-permalink').getAttribute('href'), c.url, `${id} link`);
      const text = await own.locator('.mc-content').textContent();
      for (const t of c.text_contains || []) assert.ok(text.replace(/\u00a0/g, ' ').includes(t.replace(/\u00a0/g, ' ')), `${id} text ${JSON.stringify(t)} in ${JSON.stringify(text)}`);
    }
    // The author's own reply is marked (author derived from the announcement's URL).
    assert.equal(await page.locator('[data-comment-id="116843939838175762"].mc-comment--author').count(), 1);
    assert.equal(await page.locator('.mc-comment--author').count(), 1);

    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.dialogs, []);
    await screenshot(page, 'a-simple-thread');
    if (process.env.MC_README_SCREENSHOT) {
      await page.screenshot({ path: process.env.MC_README_SCREENSHOT, fullPage: true });
    }
  } finally {
    await context.close();
  }
  // Dark mode and a phone-sized viewport, for the record.
  try {
    for (const [name, opts] of [['a-simple-thread-dark', { colorScheme: 'dark' }], ['a-simple-thread-narrow', { width: 360, height: 740 }]]) {
      const { context: ctx, page: p, log: l } = await openPage({ base: demo.base, ...opts });
      try {
        await p.goto(articleUrl(demo.base, exp));
        await waitRendered(p);
        assert.equal(await p.locator('[data-comment-id]').count(), Object.keys(exp.comments).length);
        // Nothing wider than the viewport on a narrow screen.
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `horizontal overflow ${overflow}px in ${name}`);
        assert.deepEqual(l.errors, []);
        await screenshot(p, name);
      } finally {
        await ctx.close();
      }
    }
  } finally {
    await demo.stop();
  }
});

test('b-emoji-cw-media: content warning, alt text, sensitive media, custom emoji, bot', async () => {
  const exp = expectOf('b-emoji-cw-media');
  const demo = await startDemo('b-emoji-cw-media');
  const { context, page, log } = await openPage({ base: demo.base });
  try {
    await page.goto(articleUrl(demo.base, exp));
    await waitRendered(page);
    const thread = await threadOf(page);
    assert.deepEqual(Object.keys(thread).sort(), Object.keys(exp.comments).sort());
    for (const id of Object.keys(exp.not_a_comment || {})) assert.ok(!(id in thread), `${id} is not a comment`);
    for (const [id, c] of Object.entries(exp.comments)) {
      if (c.reply_to !== exp.root_id) assert.equal(thread[id].parent, c.reply_to, `${id} nested in ${c.reply_to}`);
    }

    // Content warning: collapsed <details>, the warning as <summary>.
    const cwId = '116885540044802834';
    const cw = exp.comments[cwId];
    const own = page.locator(`[data-comment-id="${cwId}"] > .mc-body`);
    const details = own.locator(':scope > details.mc-cw');
    assert.equal(await details.count(), 1);
    assert.equal(await details.evaluate((d) => d.open), false, 'collapsed');
    const summaryText = await details.locator('summary .mc-cw-text').evaluate((e) => {
      let s = '';
      const walk = (node) => {
        for (const c of node.childNodes) {
          if (c.nodeType === 3) s += c.nodeValue;
          else if (c.localName === 'img') s += '[' + (c.getAttribute('alt') || '').replace(/^:|:$/g, '') + ']';
          else walk(c);
        }
      };
      walk(e);
      return s;
    });
    assert.equal(summaryText.trim(), cw.content_warning_text);
    assert.equal(await details.locator('.mc-content').isVisible(), false, 'body hidden behind the warning');
    assert.equal(await details.locator('img.mc-thumb').isVisible(), false, 'media hidden behind the warning');

    // Media thumbnail: preview, link, exact alt text.
    const thumb = details.locator('img.mc-thumb');
    assert.equal(await thumb.count(), cw.media_alt.length);
    assert.equal(await thumb.first().getAttribute('alt'), cw.media_alt[0]);
    assert.equal(await thumb.first().evaluate((img) => img.alt), 'A walnut desk with a 36-key split keyboard, coiled "aviator" cables & a mug that says <WORK>');
    assert.equal(await thumb.first().getAttribute('loading'), 'lazy');
    assert.equal(await thumb.first().getAttribute('referrerpolicy'), 'no-referrer');
    assert.ok(await thumb.first().getAttribute('width'));
    assert.ok(await thumb.first().getAttribute('height'));

    // Open the warning; the sensitive image is still blurred until its button is used (keyboard).
    await details.locator('summary').click();
    assert.equal(await details.evaluate((d) => d.open), true);
    assert.equal(await details.locator('.mc-content').isVisible(), true);
    const item = details.locator('.mc-media-item').first();
    assert.match(await item.getAttribute('class'), /\bmc-sensitive\b/);
    assert.match(await thumb.first().evaluate((i) => getComputedStyle(i).filter), /blur/);
    const button = item.locator('button.mc-reveal');
    assert.equal(await button.isVisible(), true);
    assert.equal(await button.evaluate((b) => b.tabIndex), 0, 'reveal button is in the tab order');
    assert.equal(await item.locator('a.mc-media-link').getAttribute('tabindex'), '-1', 'blurred link out of the tab order');
    await button.focus();
    await page.keyboard.press('Enter');
    await thumb.first().evaluate((i) => Promise.all(i.getAnimations().map((a) => a.finished)));
    assert.doesNotMatch(await item.getAttribute('class'), /\bmc-sensitive\b/);
    assert.equal(await thumb.first().evaluate((i) => getComputedStyle(i).filter), 'none');
    assert.equal(await item.locator('a.mc-media-link').getAttribute('tabindex'), null);
    assert.equal(await item.locator('button.mc-reveal').count(), 0);

    // Custom emoji images where expect.json says, and nowhere else.
    for (const [id, where] of Object.entries(exp.emoji_images)) {
      const body = page.locator(`[data-comment-id="${id}"] > .mc-body`);
      const places = { display_name: '.mc-name', content: '.mc-content', spoiler_text: '.mc-cw-text' };
      for (const [field, list] of Object.entries(where)) {
        const imgs = body.locator(`${places[field]} img.emoji`);
        assert.equal(await imgs.count(), list.length, `${id} ${field} emoji`);
        for (let i = 0; i < list.length; i++) {
          const img = imgs.nth(i);
          assert.equal(await img.getAttribute('alt'), `:${list[i].shortcode}:`);
          assert.ok(list[i].src_any_of.includes(await img.getAttribute('src')), `${id} ${field} emoji src`);
        }
      }
    }
    // Shortcodes that are not emoji stay text.
    assert.match(await page.locator('[data-comment-id="116885472149506833"] > .mc-body .mc-content').textContent(), /:not_an_emoji:/);
    // The bot is marked as a bot; its gifv without description has an empty alt.
    assert.equal(await page.locator('[data-comment-id="116885658009864979"] > .mc-body .mc-bot').count(), 1);
    const gifv = page.locator('[data-comment-id="116885658009864979"] > .mc-body img.mc-thumb');
    if (await gifv.count()) assert.equal(await gifv.first().getAttribute('alt'), '');
    // Right-to-left text keeps its direction.
    assert.equal(await page.locator('[data-comment-id="116888666112002839"] > .mc-body .mc-content').evaluate((e) => getComputedStyle(e).direction), 'rtl');

    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.dialogs, []);
    await screenshot(page, 'b-emoji-cw-media');
  } finally {
    await context.close();
    await demo.stop();
  }
});

test('c-visibility: no private or direct reply reaches the page', async () => {
  const exp = expectOf('c-visibility');
  await inDemoPage('c-visibility', {}, async ({ demo, context, page, log }) => {
    await page.goto(articleUrl(demo.base, exp));
    await waitRendered(page);
    const thread = await threadOf(page);
    assert.deepEqual(Object.keys(thread).sort(), Object.keys(exp.comments).sort());
    const html = await page.content();
    const text = await page.locator('body').innerText();
    for (const id of Object.keys(exp.hidden)) {
      assert.ok(!(id in thread), `hidden ${id} rendered`);
      assert.ok(!html.includes(id), `hidden id ${id} in the page`);
    }
    for (const s of exp.must_not_contain) {
      assert.ok(!html.includes(s) && !text.includes(s), `${JSON.stringify(s)} in the page`);
    }
    // The public reply to a private one is attached to the top level.
    assert.equal(thread['116923170816003110'].top, true);
    assert.equal(thread['116923426406407977'].parent, '116922974208003106');
    assert.match(await page.textContent('.mc-stats'), new RegExp(`\\b${exp.stats.replies} replies\\b`));
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'c-visibility');
  });
});

// The image URLs an answer legitimately makes a page load: avatars, media
// previews. A hostile server may host those; anything else from evil.example
// (content images, frames, plugins, link prefetches) must not be requested.
// Custom emoji <img> in the HTML fields count as well: a remote server hosts
// its own emoji.
function imageUrlsOf(answer) {
  const urls = new Set();
  const emojiIn = (html) => {
    for (const m of String(html || '').matchAll(/<img\b[^>]*?\bsrc="([^"]*)"/g)) urls.add(m[1].replace(/&amp;/g, '&'));
  };
  for (const c of Object.values(answer.comments || {})) {
    if (c?.author?.avatar) urls.add(c.author.avatar);
    for (const m of c?.media || []) if (m?.preview_url) urls.add(m.preview_url);
    emojiIn(c?.author?.display_name);
    emojiIn(c?.toot);
    emojiIn(c?.spoiler_text);
  }
  return urls;
}

async function assertNothingExecuted(page, log, base, label, allowedImages = new Set()) {
  // Give late handlers (image errors, timers) a moment.
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.waitForTimeout(500);
  assert.deepEqual(log.dialogs, [], `${label}: dialogs`);
  assert.deepEqual(await page.evaluate(() => window.__mcTrap), [], `${label}: trapped calls`);
  assert.deepEqual(log.navigations.length, 1, `${label}: navigations ${JSON.stringify(log.navigations)}`);
  assert.equal(new URL(page.url()).origin, new URL(base).origin, `${label}: still on the page`);
  const evil = log.requests.filter((u) => {
    try { return /(^|\.)evil\.example$/.test(new URL(u).hostname) && !allowedImages.has(u); } catch { return false; }
  });
  assert.deepEqual(evil, [], `${label}: requests to evil.example`);
  const odd = log.requests.filter((u) => !/^https?:/.test(u));
  assert.deepEqual(odd, [], `${label}: non-http requests`);
}

test('d-hostile: our script renders hostile content inert', async () => {
  const exp = expectOf('d-hostile');
  const demo = await startDemo('d-hostile');
  const { context, page, log } = await openPage({ base: demo.base });
  try {
    await page.goto(articleUrl(demo.base, exp));
    await waitRendered(page);
    assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');
    const answer = await (await page.request.get(articleUrl(demo.base, exp) + 'comments.json')).json();
    await assertNothingExecuted(page, log, demo.base, 'mastodon-comments.js', imageUrlsOf(answer));
    const problems = await page.evaluate(domProblems, { rootSelector: '.mastodon-comments', requireAbsoluteUrls: true, allowedScripts: ['/mastodon-comments.js'] });
    assert.deepEqual(problems, []);
    // No <button> or other controls inside what came from the answer.
    assert.equal(await page.locator('.mc-content *:is(button, input, textarea, select, img:not(.emoji)), .mc-name *:not(img.emoji), .mc-cw-text *:not(img.emoji)').count(), 0);
    // Every link from the answer has rel=noopener and no target other than _blank.
    for (const a of await page.locator('.mastodon-comments a[href]').all()) {
      const target = await a.getAttribute('target');
      if (target !== null) assert.equal(target, '_blank');
      if (await a.evaluate((e) => !!e.closest('.mc-content'))) assert.match(await a.getAttribute('rel'), /\bnoopener\b/);
    }
    // Plain-text fields appear literally.
    const thread = await threadOf(page);
    for (const [id, c] of Object.entries(exp.comments)) {
      assert.ok(id in thread, `${id} shown`);
      const own = page.locator(`[data-comment-id="${id}"] > .mc-body`);
      const name = c.author.display_name_text;
      if (!/\[[a-z_?]+\]/.test(name)) {
        assert.equal(stripBidi((await own.locator('.mc-name').textContent()).trim()), stripBidi(name).trim(), `${id} name as text`);
      }
      if (c.content_warning_text) {
        assert.equal((await own.locator('.mc-cw-text').textContent()).trim(), c.content_warning_text, `${id} warning as text`);
      }
      for (const alt of c.media_alt || []) {
        if (alt === null) continue;
        const shown = await own.locator('img.mc-thumb, .mc-media-text').first().evaluate((e) => (e.localName === 'img' ? e.alt : e.textContent));
        assert.ok(shown === alt || shown.endsWith(': ' + alt), `${id}: alt text ${JSON.stringify(shown)}`);
      }
      const text = await own.locator('.mc-content').textContent();
      for (const t of c.text_contains || []) assert.ok(text.includes(t), `${id}: ${JSON.stringify(t)} in the text`);
      for (const href of c.links || []) {
        assert.equal(await own.locator('.mc-content a').evaluateAll((as, h) => as.some((a) => a.getAttribute('href') === h), href), true, `${id}: link ${href}`);
      }
      // null: not linked, or (where the fixture allows it) linked percent-encoded;
      // domProblems above has checked every href is a clean http(s) URL.
      for (const [url, sel] of [[c.author.url, 'a.mc-author'], [c.url, 'a.mc-permalink']]) {
        if (url !== null) continue;
        for (const a of await own.locator(sel).all()) {
          assert.match(await a.getAttribute('href'), /^https?:\/\/[^\s"'<>`]+$/, `${id}: ${sel}`);
        }
      }
    }
    // Escaped text is shown once decoded, never as "&lt;…&gt;".
    const doubleEscaped = await page.$$eval('.mc-name, .mc-acct, .mc-cw-text, .mc-content, .mc-media-text', (els) => els.map((e) => e.textContent).filter((t) => /&(quot|lt|gt|amp|#\d+|#x[0-9a-f]+);/i.test(t)));
    assert.deepEqual(doubleEscaped, [], 'double-escaped text');
    assert.equal(await page.locator('[data-comment-id="116963672064003352"] > .mc-body .mc-acct').textContent(), '@"><img src=x onerror=alert(31)>@evil.example');
    // Nothing escaped its comment: every comment body is a direct child of its <li>.
    assert.equal(await page.locator('.mc-comment > .mc-body').count(), Object.keys(thread).length);
    const bad = exp.must_not_appear_in_any_url;
    const urls = await page.$$eval('.mastodon-comments [href], .mastodon-comments [src]', (els) => els.flatMap((e) => [e.getAttribute('href'), e.getAttribute('src')]).filter(Boolean));
    for (const u of urls) for (const b of bad) assert.ok(!u.toLowerCase().includes(b), `${u} contains ${b}`);
    await screenshot(page, 'd-hostile');
  } finally {
    await context.close();
  }
  // The Go original's page script, inserting the same answer with innerHTML.
  const legacy = await openPage({ base: demo.base });
  try {
    const pageUrl = articleUrl(demo.base, exp) + 'legacy-jquery-style.html';
    await legacy.context.route(pageUrl, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: LEGACY_PAGE }));
    await legacy.page.goto(pageUrl);
    await legacy.page.waitForSelector('body[data-done]', { state: 'attached', timeout: 20000 });
    assert.equal(await legacy.page.getAttribute('body', 'data-error'), null, 'the old script ran to completion');
    assert.ok(await legacy.page.locator('#comments .comment').count() >= 6, 'comments inserted');
    const answer = await (await legacy.page.request.get(articleUrl(demo.base, exp) + 'comments.json')).json();
    await assertNothingExecuted(legacy.page, legacy.log, demo.base, 'jQuery-style page', imageUrlsOf(answer));
    const problems = await legacy.page.evaluate(domProblems, { rootSelector: '#mastodon-stats, #comments', requireAbsoluteUrls: false, allowedScripts: ['inline'] });
    assert.deepEqual(problems, []);
    // Every comment element stayed inside the comments container.
    assert.equal(await legacy.page.locator('body > .comment, #mastodon-stats .comment').count(), 0);
    assert.deepEqual(legacy.log.errors, []);
    await screenshot(legacy.page, 'd-hostile-legacy-script');
  } finally {
    await legacy.context.close();
    await demo.stop();
  }
});

// What the Go original emitted for d-hostile: the upstream fields as they are.
function rawHostileAnswer() {
  const dir = path.join(FIXTURES, 'd-hostile');
  const exp = expectOf('d-hostile');
  const context = JSON.parse(fs.readFileSync(path.join(dir, 'context', `${exp.root_id}.json`), 'utf8'));
  const root = JSON.parse(fs.readFileSync(path.join(dir, 'statuses', `${exp.root_id}.json`), 'utf8'));
  const comments = {};
  for (const st of context.descendants) {
    comments[st.id] = {
      author: { display_name: st.account.display_name || st.account.username, avatar: st.account.avatar_static, url: st.account.url, acct: st.account.acct, bot: st.account.bot },
      toot: st.content, date: st.created_at, url: st.uri, reply_to: st.in_reply_to_id, root: exp.root_id,
      spoiler_text: st.spoiler_text, sensitive: st.sensitive, edited: st.edited_at,
      media: st.media_attachments.map((m) => ({ type: m.type, url: m.url, preview_url: m.preview_url, description: m.description })),
    };
  }
  return { comments, stats: { reblogs: root.reblogs_count, favs: root.favourites_count, replies: context.descendants.length, url: root.url, root: exp.root_id } };
}

test('d-hostile, unsanitized (as the Go original sent it): the old script runs it, ours does not', async () => {
  const exp = expectOf('d-hostile');
  const raw = JSON.stringify(rawHostileAnswer());
  const demo = await startDemo('d-hostile');
  try {
    const url = articleUrl(demo.base, exp);
    // Control: the traps do catch script run by the old page script.
    {
      const { context, page, log } = await openPage({ base: demo.base });
      await context.route(url + 'comments.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: raw }));
      await context.route(url + 'legacy-jquery-style.html', (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: LEGACY_PAGE }));
      await page.goto(url + 'legacy-jquery-style.html');
      // The payloads open dialogs and then navigate the page away (to evil.example).
      for (let i = 0; i < 100 && !(log.dialogs.length && log.navigations.length > 1); i++) await page.waitForTimeout(100);
      assert.ok(log.dialogs.length > 0, 'the dialog trap fires on the unsanitized answer');
      assert.ok(log.navigations.length > 1, 'the navigation trap fires on the unsanitized answer');
      assert.ok(log.requests.some((u) => u.startsWith('https://evil.example/')), 'the request log sees evil.example');
      await context.close();
    }
    // Our script on the same answer: nothing runs, nothing dangerous is in the DOM.
    {
      const { context, page, log } = await openPage({ base: demo.base });
      await context.route(url + 'comments.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: raw }));
      await page.goto(url);
      await waitRendered(page);
      assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');
      await assertNothingExecuted(page, log, demo.base, 'mastodon-comments.js, unsanitized answer');
      const problems = await page.evaluate(domProblems, { rootSelector: '.mastodon-comments', requireAbsoluteUrls: true, allowedScripts: ['/mastodon-comments.js'] });
      assert.deepEqual(problems, []);
      for (const b of exp.must_not_appear_in_any_url) {
        const urls = await page.$$eval('.mastodon-comments [href], .mastodon-comments [src]', (els) => els.flatMap((e) => [e.getAttribute('href'), e.getAttribute('src')]).filter(Boolean));
        for (const u of urls) assert.ok(!u.toLowerCase().includes(b), `${u} contains ${b}`);
      }
      // Plain text stays text, even where the Go original sent it raw.
      const own = page.locator('[data-comment-id="116963554099203346"] > .mc-body');
      assert.equal((await own.locator('.mc-cw-text').textContent()).trim(), 'CW', 'raw spoiler markup is reduced to its text');
      assert.deepEqual(log.errors, []);
      await screenshot(page, 'd-hostile-unsanitized');
      await context.close();
    }
  } finally {
    await demo.stop();
  }
});

test('f-edge-cases: blank names, deleted parent, edited reply, clock skew, media-only', async () => {
  const exp = expectOf('f-edge-cases');
  const demo = await startDemo('f-edge-cases');
  const { context, page, log } = await openPage({ base: demo.base });
  try {
    await page.goto(articleUrl(demo.base, exp));
    await waitRendered(page);
    const thread = await threadOf(page);
    for (const [id, c] of Object.entries(exp.comments)) {
      assert.ok(id in thread, `${id} shown`);
      const own = page.locator(`[data-comment-id="${id}"] > .mc-body`);
      assert.equal((await own.locator('.mc-name').textContent()).trim(), c.author.display_name_text, `${id} name`);
      if (c.reply_to === exp.root_id || (c.reply_to_any_of || []).includes(exp.root_id)) {
        assert.equal(thread[id].top, true, `${id} at the top level`);
      }
      for (const alt of c.media_alt || []) {
        if (alt !== null) assert.equal(await own.locator('img.mc-thumb').first().getAttribute('alt'), alt);
      }
    }
    for (const id of Object.keys(exp.hidden)) assert.ok(!(id in thread));
    const html = await page.content();
    for (const s of exp.must_not_contain) assert.ok(!html.includes(s), `${s} in the page`);
    assert.equal(await page.locator('[data-comment-id="117041489510403893"] > .mc-body .mc-edited').count(), 1, 'edited marker');
    assert.equal(await page.locator('.mc-edited').count(), 1, 'only the edited reply is marked');
    // Oldest first at the top level, also for the reply from a slow clock.
    const top = await page.$$eval('.mc-thread > [data-comment-id] > .mc-body time', (ts) => ts.map((t) => Date.parse(t.getAttribute('datetime'))));
    assert.deepEqual(top, [...top].sort((a, b) => a - b));
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'f-edge-cases');
  } finally {
    await context.close();
    await demo.stop();
  }
});

test('e-long-thread: 200 replies, 25 deep, nothing lost, fits a phone screen', async () => {
  const exp = expectOf('e-long-thread');
  await inDemoPage('e-long-thread', { width: 360, height: 740 }, async ({ demo, context, page, log }) => {
    await page.goto(articleUrl(demo.base, exp));
    await waitRendered(page);
    const thread = await threadOf(page);
    assert.equal(Object.keys(thread).length, exp.count_authenticated);
    for (const [id, c] of Object.entries(exp.comments)) {
      assert.ok(id in thread, `${id} shown`);
      if (c.reply_to === exp.root_id) assert.equal(thread[id].top, true, `${id} at the top level`);
      else assert.equal(thread[id].parent, c.reply_to, `${id} under ${c.reply_to}`);
    }
    const chain = exp.chain_ids;
    assert.equal(chain.length, exp.max_depth);
    const deepest = page.locator(`[data-comment-id="${chain[chain.length - 1]}"]`);
    assert.equal(await deepest.evaluate((e) => { let n = 0; for (let p = e; p; p = p.parentElement.closest('[data-comment-id]')) n++; return n; }), exp.max_depth);
    // Indentation is capped: the deepest reply still has most of the width.
    const box = await deepest.locator(':scope > .mc-body').boundingBox();
    assert.ok(box.width > 240, `deepest reply is ${box.width}px wide`);
    // Past the indentation cap, a reply names the one it answers.
    assert.match(await deepest.locator(':scope > .mc-body .mc-in-reply-to').textContent(), /in reply to \S/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `horizontal overflow ${overflow}px`);
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'e-long-thread-narrow');
  });
});

test('empty states and errors: not announced, no replies, HTTP error, network error', async () => {
  const exp = expectOf('a-simple-thread');
  const demo = await startDemo('a-simple-thread');
  try {
    // A path without an announcement post.
    {
      const { context, page, log } = await openPage({ base: demo.base });
      await page.goto(demo.base + '/2099/01/01/nothing/');
      await waitRendered(page);
      const res = await page.request.get(demo.base + '/2099/01/01/nothing/comments.json');
      assert.equal(res.status(), 200, 'unannounced article: 200');
      const body = await res.json();
      assert.equal(body.comments, null);
      assert.match(await page.textContent('.mastodon-comments'), /has not been announced on Mastodon yet/);
      assert.equal(await page.locator('[data-comment-id]').count(), 0);
      assert.equal(await page.locator('.mc-stats').count(), 0);
      assert.deepEqual(log.errors, []);
      await screenshot(page, 'empty-not-announced');
      await context.close();
    }
    // An announced post without replies (answer shaped by the test).
    {
      const { context, page, log } = await openPage({ base: demo.base });
      const url = articleUrl(demo.base, exp);
      await context.route(url + 'comments.json', (route) => route.fulfill({
        status: 200, contentType: 'application/json',
        body: JSON.stringify({ comments: {}, stats: { ...exp.stats, replies: 0 }, withheld: 0, stale: false }),
      }));
      await page.goto(url);
      await waitRendered(page);
      assert.match(await page.textContent('.mc-empty'), /No replies yet/);
      assert.equal(await page.getAttribute('a.mc-reply-link', 'href'), exp.stats.url);
      assert.deepEqual(log.errors, []);
      await context.close();
    }
    // The daemon refuses the query (a page whose data-src asks for a bad search).
    // Then a daemon error status, a network failure and a body that is not JSON.
    const failures = [
      ['daemon-400', null],
      ['http-503', (route) => route.fulfill({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '30' }, body: '{"error":"upstream unavailable"}' })],
      ['network', (route) => route.abort('connectionrefused')],
      ['not-json', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<html>oops</html>' })],
    ];
    for (const [name, handler] of failures) {
      const { context, page, log } = await openPage({ base: demo.base });
      const url = articleUrl(demo.base, exp);
      if (handler) {
        await context.route(url + 'comments.json', handler);
        await page.goto(url);
      } else {
        const badSrc = '/comments.json?search=' + encodeURIComponent('x'.repeat(5000));
        const res = await page.request.get(demo.base + badSrc);
        assert.ok(res.status() >= 400 && res.status() < 500, `bad search answered ${res.status()}`);
        const pageUrl = demo.base + '/bad-query.html';
        await context.route(pageUrl, (route) => route.fulfill({
          status: 200, contentType: 'text/html; charset=utf-8',
          body: `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><link rel="stylesheet" href="/mastodon-comments.css"></head>` +
            `<body><p>Before</p><div class="mastodon-comments" data-src="${badSrc}"></div><p>After</p><script src="/mastodon-comments.js" defer></script></body></html>`,
        }));
        await page.goto(pageUrl);
      }
      await waitRendered(page);
      assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'error', name);
      assert.equal(await page.locator('.mastodon-comments > *').count(), 1, `${name}: one line`);
      assert.equal(await page.locator('.mastodon-comments > p.mc-error').count(), 1, `${name}: the error line`);
      assert.match(await page.textContent('.mc-error'), /could not be loaded/);
      const box = await page.locator('.mastodon-comments').boundingBox();
      assert.ok(box.height < 60, `${name}: quiet (height ${box.height})`);
      assert.deepEqual(log.errors, [], `${name}: no page errors`);
      await screenshot(page, `error-${name}`);
      await context.close();
    }
  } finally {
    await demo.stop();
  }
});

test('a stopped daemon: one quiet line', async () => {
  const exp = expectOf('a-simple-thread');
  await inDemoPage('a-simple-thread', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp);
    // Load the page and script, then stop the daemon before the answer is fetched.
    let release;
    const gate = new Promise((r) => { release = r; });
    await context.route(url + 'comments.json', async (route) => { await gate; await route.continue().catch(() => route.abort('connectionrefused')); });
    await page.goto(url);
    await demo.stop();
    release();
    await waitRendered(page);
    assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'error');
    assert.equal(await page.locator('.mastodon-comments > *').count(), 1);
    assert.deepEqual(log.errors, []);
  });
});

test("the Go original's answer (no new fields) renders too", async () => {
  const exp = expectOf('a-simple-thread');
  await inDemoPage('a-simple-thread', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp);
    const answer = await (await page.request.get(url + 'comments.json')).json();
    const old = { comments: {}, stats: answer.stats };
    for (const [id, c] of Object.entries(answer.comments)) {
      old.comments[id] = {
        author: { display_name: c.author.display_name, avatar: c.author.avatar, url: c.author.url },
        toot: c.toot, date: c.date, url: c.url, reply_to: c.reply_to, root: c.root,
      };
    }
    await context.route(url + 'comments.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(old) }));
    await page.goto(url);
    await waitRendered(page);
    assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');
    const thread = await threadOf(page);
    assert.deepEqual(Object.keys(thread).sort(), Object.keys(exp.comments).sort());
    assert.equal(thread['116843939838175762'].parent, '116843824087040785');
    assert.equal(await page.locator('.mc-edited, .mc-cw, .mc-media, .mc-withheld, .mc-acct, .mc-bot').count(), 0);
    assert.deepEqual(log.errors, []);
  });
});

test('data- options: heading, heading level, author URL, avatars off, media as links', async () => {
  const exp = expectOf('b-emoji-cw-media');
  await inDemoPage('b-emoji-cw-media', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp) + 'options.html';
    await context.route(url, (route) => route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8',
      body: `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><link rel="stylesheet" href="/mastodon-comments.css"></head><body>` +
        `<div class="mastodon-comments" data-src="comments.json" data-heading="Replies from the fediverse" data-heading-level="3"` +
        ` data-author-url="https://chaos.example/@maya" data-avatars="off" data-media="link"></div>` +
        `<script src="/mastodon-comments.js" defer></script></body></html>`,
    }));
    await page.goto(url);
    await waitRendered(page);
    assert.equal(await page.textContent('h3.mc-heading'), 'Replies from the fediverse');
    assert.equal(await page.locator('img.mc-avatar').count(), 0);
    assert.equal(await page.locator('img.mc-thumb').count(), 0);
    assert.ok(await page.locator('.mc-media-text').count() >= 1);
    assert.equal(await page.locator('[data-comment-id="116885540044802834"].mc-comment--author').count(), 1);
    assert.equal(await page.locator('.mc-comment--author').count(), 1);
    await page.waitForLoadState('networkidle');
    const images = log.external.filter((u) => /avatars|media_attachments/.test(u));
    assert.deepEqual(images, [], 'no avatar or media request');
    assert.deepEqual(log.errors, []);
  });
});

test('withheld and stale answers are reported', async () => {
  const exp = expectOf('a-simple-thread');
  await inDemoPage('a-simple-thread', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp);
    const answer = await (await page.request.get(url + 'comments.json')).json();
    await context.route(url + 'comments.json', (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: JSON.stringify({ ...answer, withheld: 3, stale: true }),
    }));
    await page.goto(url);
    await waitRendered(page);
    assert.match(await page.textContent('.mc-withheld'), /^3 replies are not shown/);
    assert.equal(await page.locator('.mc-stale').count(), 1);
    assert.deepEqual(log.errors, []);
  });
});

test('the binary serves the web/ files of this tree (rebuild after editing web/)', async () => {
  const demo = await startDemo(null);
  try {
    for (const [urlPath, name] of [['/mastodon-comments.js', 'mastodon-comments.js'], ['/mastodon-comments.css', 'mastodon-comments.css'], ['/2026/07/01/slow-bread/', 'demo.html']]) {
      const res = await fetch(demo.base + urlPath);
      assert.equal(res.status, 200, urlPath);
      const served = Buffer.from(await res.arrayBuffer());
      assert.ok(served.equals(webFile(name)), `${urlPath} differs from web/${name}: the binary is older than web/, run cargo build`);
    }
    const js = await fetch(demo.base + '/mastodon-comments.js');
    assert.match(js.headers.get('content-type'), /javascript/);
    const css = await fetch(demo.base + '/mastodon-comments.css');
    assert.match(css.headers.get('content-type'), /text\/css/);
  } finally {
    await demo.stop();
  }
});
