// Browser tests of web/mastodon-comments.js, served by the daemon's demo mode,
// in Debian's Chromium driven by playwright-core. Run with ./run.sh.
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Environment:
//   MC_BIN        the mastodon-comments binary (run.sh sets it)
//   MC_TEST_OUT   directory for the PNG screenshots (default: <repo>/target/browser-screenshots)
//   MC_CHROMIUM   the browser (default /usr/bin/chromium)
//   MC_README_SCREENSHOT  if set, also write the page of the demo command (its
//                 built-in sample thread), 1000 px wide, to this path
//
// Every request to a host other than the daemon's loopback address is answered
// by the test with a generated placeholder image and logged; nothing leaves
// the machine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
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
// A naive script using the new fields, with every string in every attribute context.
const NAIVE_PAGE = fs.readFileSync(path.join(HERE, 'legacy-naive-fields.html'), 'utf8');
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
  if (scenario) args.push('--fixtures', path.isAbsolute(scenario) ? scenario : path.join(FIXTURES, scenario));
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
// page errors, navigations of the main frame, every request, failed requests
// and answers of 400 and above.
async function openPage({ base, colorScheme = 'light', width = 1000, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme, locale: 'en-GB', timezoneId: 'UTC', serviceWorkers: 'block' });
  const page = await context.newPage();
  const log = { dialogs: [], errors: [], navigations: [], requests: [], external: [], failed: [] };
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
  page.on('requestfailed', (r) => log.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) log.failed.push(`${r.url()}: HTTP ${r.status()}`); });
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) log.navigations.push(f.url()); });
  return { context, page, log };
}

async function waitRendered(page) {
  await page.waitForSelector('.mastodon-comments[data-mc-state="done"], .mastodon-comments[data-mc-state="error"]', { timeout: 20000 });
}

async function screenshot(page, name, { fullPage = true } = {}) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage });
}

function articleUrl(base, exp) {
  return base + exp.article.path + '/';
}

// Elements, attributes and URLs that must not appear in rendered output.
// Runs in the page; returns a list of problems. Each problem names the
// insertion it sits in when the page labels them (data-ctx, see
// legacy-naive-fields.html).
//
// Every attribute whose name starts with "on" is reported, on the naive pages
// too: no string of the answer holds a raw ' or ", so none closes a quoted
// attribute and turns the text after it into attribute names.
//
// loadContexts (legacy-naive-fields.html, see LOAD_CONTEXTS): the <script>,
// <iframe> and <link> the page itself wrote, each the only node of a wrapper
// the page labelled, are its own and not reported here;
// loadContextProblems checks that they hold exactly what the page wrote.
function domProblems({ rootSelector, requireAbsoluteUrls, allowedScripts, loadContexts = {} }) {
  const problems = [];
  const roots = [...document.querySelectorAll(rootSelector)];
  if (!roots.length) return [`no ${rootSelector}`];
  const labels = new Set(window.__legacyCtx || []);
  const ownLoaders = new Set();
  for (const w of document.querySelectorAll('[data-ctx]')) {
    const label = w.getAttribute('data-ctx');
    const spec = loadContexts[label.split(' ').pop()];
    const e = w.firstChild;
    if (spec && labels.has(label) && e && e.nodeType === 1 && e.localName === spec.tag) ownLoaders.add(e);
  }
  const badTags = ['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'svg', 'math', 'style',
    'link', 'meta', 'base', 'form', 'input', 'textarea', 'select', 'video', 'audio', 'source', 'portal',
    'dialog', 'button'];
  // Elements the page itself made that may carry id= or be a <button>: the
  // naive pages list theirs; our script's heading and its own two buttons.
  const ownIds = new Set([...(window.__legacyOwn || []), ...document.querySelectorAll('.mastodon-comments > section.mc-comments > .mc-heading')]);
  const ownButtons = new Set(document.querySelectorAll(
    '.mastodon-comments .mc-media > .mc-media-item > button.mc-reveal[type="button"], .mastodon-comments .mc-reply > .mc-reply-note > button.mc-copy[type="button"]'));
  const where = (e) => {
    const ctx = e.closest('[data-ctx]');
    return ctx ? ` (in ${ctx.getAttribute('data-ctx')})` : '';
  };
  for (const e of roots.flatMap((r) => [...r.querySelectorAll('*')])) {
    if (badTags.includes(e.localName) && !ownButtons.has(e) && !ownLoaders.has(e)) problems.push(`element <${e.localName}>${where(e)}`);
    for (const a of e.attributes) {
      const name = a.name.toLowerCase();
      const value = a.value;
      if (name.startsWith('on')) problems.push(`attribute ${name}=${JSON.stringify(value)} on <${e.localName}>${where(e)}`);
      if (['style', 'srcdoc', 'formaction', 'xlink:href', 'background', 'poster', 'srcset', 'action', 'popover', 'popovertarget', 'name'].includes(name)) {
        problems.push(`attribute ${name}=${JSON.stringify(value)} on <${e.localName}>${where(e)}`);
      }
      if (name === 'id' && !ownIds.has(e)) problems.push(`attribute id=${JSON.stringify(value)} on <${e.localName}>${where(e)}`);
      const squashed = value.replace(/[\u0000-\u0020\u007f]/g, '').toLowerCase();
      if (/^(javascript|vbscript|data):/.test(squashed)) problems.push(`${name}="${value}" on <${e.localName}>${where(e)}`);
      if (['href', 'src', 'cite'].includes(name) && requireAbsoluteUrls) {
        let ok = false;
        try { const u = new URL(value); ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.href === value; } catch { ok = false; }
        if (!ok || /[\s"'<>`]/.test(value)) problems.push(`${name}="${value}" on <${e.localName}> is not a clean absolute http(s) URL`);
      }
    }
  }
  const scripts = [...document.querySelectorAll('script')].filter((s) => !ownLoaders.has(s)).map((s) => s.src ? new URL(s.src).pathname : 'inline');
  const extra = scripts.filter((s) => !allowedScripts.includes(s));
  if (extra.length || scripts.length !== allowedScripts.length) problems.push(`scripts in the document: ${JSON.stringify(scripts)}`);
  if ([...document.querySelectorAll('iframe, frame, object, embed')].some((e) => !ownLoaders.has(e))) problems.push('frames or plugins in the document');
  if (document.querySelectorAll('base, meta[http-equiv]').length) problems.push('<base> or <meta http-equiv> in the document');
  if (document.querySelectorAll('dialog, [popover]').length) problems.push('<dialog> or [popover] in the document');
  return problems;
}

// The contexts of legacy-naive-fields.html where a string goes into a quoted
// attribute (attr) of an element that loads something (load="value"), with
// the string's attribute first or last (-rev), double- or single-quoted.
const LOAD_ELEMENTS = [
  { name: 'img-alt', tag: 'img', attr: 'alt', load: 'src', value: '/mc-ctx/ok.png' },
  { name: 'a-title', tag: 'a', attr: 'title', load: 'href', value: '/mc-ctx/article', text: true },
  { name: 'script-data', tag: 'script', attr: 'data-x', load: 'src', value: '/mc-ctx/widget.js' },
  { name: 'iframe-title', tag: 'iframe', attr: 'title', load: 'src', value: '/mc-ctx/frame' },
  { name: 'link-title', tag: 'link', attr: 'title', load: 'href', value: '/mc-ctx/style.css' },
];
const LOAD_CONTEXTS = Object.fromEntries(LOAD_ELEMENTS.flatMap((e) => ['dq', 'dq-rev', 'sq', 'sq-rev'].map((q) => [`${e.name}-${q}`, e])));
// Every context of the page, for counting its wrappers.
const NAIVE_CONTEXTS = ['title-dq', 'title-sq', 'href-dq', 'href-sq', 'src-dq', 'src-sq', ...Object.keys(LOAD_CONTEXTS)];

// What the naive page loads from its own origin: empty answers, so that
// nothing fails or waits. The frames get 204 No Content (they stay on their
// empty initial document): an empty page would be a second document in each
// of hundreds of iframes, which more than doubles the time the page takes.
const PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII=', 'base64');
async function routeNaiveAssets(context, base) {
  const origin = new URL(base).origin;
  await context.route((u) => u.origin === origin && u.pathname.startsWith('/mc-ctx/'), (route) => {
    const p = new URL(route.request().url()).pathname;
    if (p.endsWith('.png')) return route.fulfill({ status: 200, contentType: 'image/png', body: PIXEL_PNG });
    if (p.endsWith('.js')) return route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: '' });
    if (p.endsWith('.css')) return route.fulfill({ status: 200, contentType: 'text/css; charset=utf-8', body: '' });
    if (p === '/mc-ctx/article') return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: '<!DOCTYPE html><title>mc-ctx</title>' });
    return route.fulfill({ status: 204, body: '' });
  });
}

// Runs in legacy-naive-fields.html; returns a list of problems, each naming
// its wrapper's label. Every wrapper the page wrote is there once (a string
// that breaks out of an attribute can swallow the next ones), none other is;
// in each load context the wrapper holds only the element the page wrote,
// with exactly its two attributes, the loading one unchanged, and nothing
// inside but the page's own text.
function loadContextProblems({ contexts }) {
  const problems = [];
  const written = window.__legacyCtx || [];
  if (!written.length) return ['the page listed no wrappers'];
  const writtenSet = new Set(written);
  const found = new Map();
  const wrappers = [...document.querySelectorAll('#mastodon-stats [data-ctx], #comments [data-ctx]')];
  for (const w of wrappers) {
    const label = w.getAttribute('data-ctx');
    found.set(label, (found.get(label) || 0) + 1);
    if (!writtenSet.has(label)) problems.push(`a wrapper the page did not write (in ${label})`);
  }
  for (const label of written) {
    const n = found.get(label) || 0;
    if (n !== 1) problems.push(`wrapper found ${n} times${n ? '' : ' (swallowed by an earlier insertion?)'} (in ${label})`);
  }
  const show = (n) => (n.nodeType === 1 ? `<${n.localName}>` : n.nodeType === 3 ? JSON.stringify(n.data.slice(0, 40)) : n.nodeName);
  for (const w of wrappers) {
    const label = w.getAttribute('data-ctx');
    const parts = label.split(' ');
    const ctx = parts[parts.length - 1];
    const spec = contexts[ctx];
    if (!spec || !writtenSet.has(label)) continue;
    const where = ` (in ${label})`;
    const nodes = [...w.childNodes];
    const e = nodes[0];
    if (nodes.length !== 1 || e.nodeType !== 1 || e.localName !== spec.tag) {
      problems.push(`wrapper holds ${nodes.map(show).join(' ') || 'nothing'}, not one <${spec.tag}>${where}`);
    }
    if (!e || e.nodeType !== 1 || e.localName !== spec.tag) continue;
    const names = [...e.attributes].map((a) => a.name);
    if (names.length !== 2 || !names.includes(spec.attr) || !names.includes(spec.load)) {
      problems.push(`attributes ${JSON.stringify(names)} on <${spec.tag}>, not ${spec.attr} and ${spec.load}${where}`);
    }
    if (e.getAttribute(spec.load) !== spec.value) {
      problems.push(`${spec.load}=${JSON.stringify(e.getAttribute(spec.load))} on <${spec.tag}>, not ${JSON.stringify(spec.value)}${where}`);
    }
    // <a>: the page's text only. <script>, <iframe>: nothing (their content
    // is raw text, and a script's text runs). <img>, <link>: void.
    const text = spec.text ? `${parts.slice(1, -1).join(' ')} (${ctx})` : '';
    const inner = [...e.childNodes];
    if (inner.length > 1 || (inner.length === 1 && (inner[0].nodeType !== 3 || inner[0].data !== text)) || (!inner.length && text)) {
      problems.push(`<${spec.tag}> holds ${inner.map(show).join(' ') || 'nothing'}, not ${text ? JSON.stringify(text) : 'nothing'}${where}`);
    }
  }
  return problems;
}

// Structure of the rendered thread: id -> {parent (closest ancestor comment id or null), depth, top}
// (Built here from entries: an id such as "__proto__" stays a plain key.)
async function threadOf(page) {
  return Object.fromEntries(await page.$$eval('[data-comment-id]', (els) => els.map((e) => {
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
      // The date is shown in the reader's locale (en-GB here), not as the raw ISO string.
      const shown = (await own.locator('time').textContent()).trim();
      assert.ok(shown !== '' && shown !== c.date && !/\d{4}-\d\d-\d\dT/.test(shown), `${id} date text ${JSON.stringify(shown)}`);
      assert.match(shown, /\b2026\b/, `${id} date text ${JSON.stringify(shown)}`);
      assert.equal(shown, new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(c.date)), `${id} date text`);
      assert.equal(await own.locator('a.mc-permalink').getAttribute('href'), c.url, `${id} link`);
      const text = await own.locator('.mc-content').textContent();
      for (const t of c.text_contains || []) assert.ok(text.replace(/\u00a0/g, ' ').includes(t.replace(/\u00a0/g, ' ')), `${id} text ${JSON.stringify(t)} in ${JSON.stringify(text)}`);
    }
    // The author's own reply is marked (author derived from the announcement's URL).
    assert.equal(await page.locator('[data-comment-id="116843939838175762"].mc-comment--author').count(), 1);
    assert.equal(await page.locator('.mc-comment--author').count(), 1);

    // Lists keep their semantics although the style sheet removes the markers
    // (Safari drops them under list-style: none without role="list").
    assert.equal(await page.locator('ol.mc-thread[role="list"]').count(), 1);
    assert.equal(await page.locator('ol.mc-replies:not([role="list"]), ol.mc-thread:not([role="list"])').count(), 0);
    assert.equal(await page.getByRole('list').count(), await page.locator('.mastodon-comments ol').count());
    // Favourite counts have an accessible name, not only a tooltip.
    for (const [id, n] of [['116843824087040785', 2], ['116843939838175762', 3], ['116843909470822146', 1]]) {
      const favs = page.locator(`[data-comment-id="${id}"] > .mc-body .mc-favs`);
      assert.match(await favs.textContent(), new RegExp(`★\\s${n}$`));
      assert.equal(await page.locator(`[data-comment-id="${id}"] > .mc-body`).getByRole('img', { name: `${n} ${n === 1 ? 'favourite' : 'favourites'}`, exact: true }).count(), 1, `${id}: favourites named`);
    }

    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.dialogs, []);
    await screenshot(page, 'a-simple-thread');
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

    // Media thumbnail: sensitive, so nothing is loaded yet: an <img> without
    // src or srcset, a neutral box of the thumbnail's size.
    const thumb = details.locator('img.mc-thumb');
    assert.equal(await thumb.count(), cw.media_alt.length);
    const answer = await (await page.request.get(articleUrl(demo.base, exp) + 'comments.json')).json();
    const sensitiveMedia = answer.comments[cwId].media[0];
    assert.equal(answer.comments[cwId].sensitive, true);
    const mediaUrls = [sensitiveMedia.url, sensitiveMedia.preview_url];
    assert.equal(await thumb.first().getAttribute('src'), null, 'no src before the reveal');
    assert.equal(await thumb.first().getAttribute('srcset'), null, 'no srcset before the reveal');
    assert.equal(await thumb.first().getAttribute('referrerpolicy'), 'no-referrer');
    assert.equal(await thumb.first().getAttribute('width'), '160');
    assert.equal(await thumb.first().getAttribute('height'), '120');

    // Keyboard: from the stats link, Tab walks the comments in document order,
    // only to visible elements, and reaches the content warning's <summary>;
    // nothing inside the closed warning is reachable.
    await page.locator('.mc-stats a').focus();
    const walk = async (stopSelector, max) => {
      await page.evaluate(() => { window.__focusWalk = [document.activeElement]; });
      for (let i = 0; i < max; i++) {
        await page.keyboard.press('Tab');
        const done = await page.evaluate((sel) => { window.__focusWalk.push(document.activeElement); return document.activeElement.matches(sel); }, stopSelector);
        if (done) break;
      }
      return page.evaluate(() => {
        const seq = window.__focusWalk;
        const problems = [];
        for (let i = 1; i < seq.length; i++) {
          const e = seq[i];
          const r = e.getBoundingClientRect();
          if (!(r.width > 0 && r.height > 0) || getComputedStyle(e).visibility === 'hidden') problems.push(`invisible focus: ${e.outerHTML.slice(0, 80)}`);
          if (!(seq[i - 1].compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING)) problems.push(`focus went backwards to ${e.outerHTML.slice(0, 80)}`);
          if (e.closest('details:not([open])') && e.localName !== 'summary') problems.push(`focus inside a closed warning: ${e.outerHTML.slice(0, 80)}`);
          if (e.closest('[aria-hidden="true"]')) problems.push(`focus inside aria-hidden: ${e.outerHTML.slice(0, 80)}`);
        }
        const names = seq.map((e) => `${e.localName}.${[...e.classList].join('.')}@${e.closest('[data-comment-id]')?.getAttribute('data-comment-id') || '-'}`);
        return { problems, names };
      });
    };
    const closedWalk = await walk('a.mc-reply-link', 80);
    assert.deepEqual(closedWalk.problems, [], closedWalk.names.join('\n'));
    assert.ok(closedWalk.names.includes(`summary.mc-cw-summary@${cwId}`), `Tab reaches the warning: ${closedWalk.names.join(', ')}`);
    assert.match(closedWalk.names.at(-1), /^a\.mc-reply-link/, 'Tab reaches the reply link');
    // In each comment: author link, then the permalink, then the warning.
    const inCw = closedWalk.names.filter((n) => n.endsWith('@' + cwId));
    assert.deepEqual(inCw, [`a.mc-author@${cwId}`, `a.mc-permalink@${cwId}`, `summary.mc-cw-summary@${cwId}`]);
    assert.ok(!closedWalk.names.some((n) => /mc-reveal|mc-media-link/.test(n) && n.endsWith('@' + cwId)), 'nothing behind the warning is reachable');

    // Enter and Space toggle the warning.
    const summary = details.locator('summary');
    await summary.focus();
    await page.keyboard.press('Enter');
    assert.equal(await details.evaluate((d) => d.open), true, 'Enter opens the warning');
    await page.keyboard.press('Space');
    assert.equal(await details.evaluate((d) => d.open), false, 'Space closes it');
    await page.keyboard.press('Space');
    assert.equal(await details.evaluate((d) => d.open), true, 'Space opens it');
    assert.equal(await details.locator('.mc-content').isVisible(), true);

    // Open: the next Tab stops lead into the reply and to the reveal button,
    // not to the hidden media link.
    const openWalk = await walk('button.mc-reveal', 10);
    assert.deepEqual(openWalk.problems, [], openWalk.names.join('\n'));
    assert.equal(openWalk.names.at(-1), `button.mc-reveal@${cwId}`, `Tab reaches the reveal button: ${openWalk.names.join(', ')}`);

    const item = details.locator('.mc-media-item').first();
    assert.match(await item.getAttribute('class'), /\bmc-sensitive\b/);
    const button = item.locator('button.mc-reveal');
    assert.equal(await button.isVisible(), true);
    assert.equal(await button.evaluate((b) => b.tabIndex), 0, 'reveal button is in the tab order');
    assert.equal(await item.locator('a.mc-media-link').getAttribute('tabindex'), '-1', 'hidden link out of the tab order');
    const box = await thumb.first().boundingBox();
    assert.ok(Math.round(box.width) === 160 && Math.round(box.height) === 120, `placeholder ${box.width}x${box.height}`);
    await page.waitForLoadState('networkidle').catch(() => {});
    assert.deepEqual(log.requests.filter((u) => mediaUrls.includes(u)), [], 'no request for the sensitive media before the reveal');
    assert.equal(await thumb.first().getAttribute('src'), null);
    await own.screenshot({ path: path.join(OUT, 'b-sensitive-before-reveal.png') });

    // Reveal with the keyboard: now it loads, at the same size.
    const loaded = page.waitForRequest(sensitiveMedia.preview_url, { timeout: 5000 });
    await page.keyboard.press('Enter');
    await loaded;
    await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.first().elementHandle(), { timeout: 5000 });
    assert.equal(await thumb.first().getAttribute('src'), sensitiveMedia.preview_url);
    assert.equal(await thumb.first().getAttribute('alt'), cw.media_alt[0]);
    assert.equal(await thumb.first().evaluate((img) => img.alt), 'A walnut desk with a 36-key split keyboard, coiled "aviator" cables & a mug that says <WORK>');
    assert.equal(await thumb.first().getAttribute('loading'), 'lazy');
    const after = await thumb.first().boundingBox();
    assert.ok(Math.round(after.width) === 160 && Math.round(after.height) === 120, `revealed ${after.width}x${after.height}`);
    assert.doesNotMatch(await item.getAttribute('class'), /\bmc-sensitive\b/);
    assert.match(await item.getAttribute('class'), /\bmc-revealed\b/);
    assert.equal(await item.locator('a.mc-media-link').getAttribute('tabindex'), null);
    assert.equal(await item.locator('a.mc-media-link').getAttribute('aria-hidden'), null);
    assert.equal(await item.locator('button.mc-reveal').count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement.className), 'mc-media-link', 'focus moves to the revealed link');
    // The media list keeps list semantics.
    assert.equal(await page.locator('ul.mc-media:not([role="list"])').count(), 0);

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
    // The bot is marked as a bot; its gifv without description has an empty
    // alt, and its link still has an accessible name.
    const bot = page.locator('[data-comment-id="116885658009864979"] > .mc-body');
    assert.equal(await bot.locator('.mc-bot').count(), 1);
    const gifv = bot.locator('img.mc-thumb');
    assert.equal(await gifv.count(), 1);
    assert.equal(await gifv.first().getAttribute('alt'), '');
    assert.equal(await bot.getByRole('link', { name: 'Animation (no description)', exact: true }).count(), 1);
    // Every media link has a name (its image's alt, or the label).
    for (const a of await page.locator('a.mc-media-link').all()) {
      const named = await a.evaluate((e) => !!(e.getAttribute('aria-label') || e.textContent.trim() || [...e.querySelectorAll('img')].some((i) => i.alt)));
      assert.ok(named, 'media link without an accessible name');
    }
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

test('l-mastodon-quotes: an accepted quote links the quoted post in place of the fallback; no other quote links anything', async () => {
  const exp = expectOf('l-mastodon-quotes');
  await inDemoPage('l-mastodon-quotes', {}, async ({ demo, page, log }) => {
    await page.goto(articleUrl(demo.base, exp));
    await waitRendered(page);
    for (const [id, c] of Object.entries(exp.comments)) {
      const shown = await page.$eval(`[data-comment-id="${id}"] > article`, (a) => ({
        quotes: [...a.querySelectorAll('.mc-quote-link')].map((l) => [l.getAttribute('href'), l.textContent]),
        fallbacks: a.querySelectorAll('.quote-inline').length,
        text: a.querySelector('.mc-content').textContent,
      }));
      if (c.quote) {
        assert.deepEqual(shown.quotes, [[c.quote.url, '@' + c.quote.acct]], `${id}: ${c.note}`);
        assert.equal(shown.fallbacks, 0, `${id}: the RE: line gives way to the quote line`);
      } else {
        assert.deepEqual(shown.quotes, [], `${id}: ${c.note}`);
        assert.ok(!/\bRE:/.test(shown.text), `${id}: no fallback link either (${c.note})`);
      }
    }
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'l-mastodon-quotes');
  });
});

// The image URLs an answer legitimately makes a page load: avatars, media
// previews. A hostile server may host those; anything else from evil.example
// (content images, frames, plugins, link prefetches) must not be requested.
// Custom emoji <img> in the HTML fields count as well: a remote server hosts
// its own emoji.
function imageUrlsOf(answer) {
  const urls = new Set();
  // src="…" or, as the daemon writes it, unquoted with character references.
  const unref = (v) => v.replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16))).replace(/&amp;/g, '&');
  const emojiIn = (html) => {
    for (const m of String(html || '').matchAll(/<img\b[^>]*?\ssrc=(?:"([^"]*)"|([^\s"'=<>`]+))/g)) urls.add(unref(m[1] ?? m[2]));
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

// What ran or loaded that should not have: dialogs, trapped calls,
// navigations, requests to the hostile host other than the allowed images,
// non-http requests. Returns a list of problems.
async function executionProblems(page, log, base, allowedImages = new Set()) {
  // Give late handlers (image errors, timers) a moment.
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.waitForTimeout(500);
  const problems = [];
  for (const d of log.dialogs) problems.push(`dialog ${d}`);
  for (const t of await page.evaluate(() => window.__mcTrap)) problems.push(`trapped call ${t}`);
  if (log.navigations.length !== 1) problems.push(`navigations ${JSON.stringify(log.navigations)}`);
  if (new URL(page.url()).origin !== new URL(base).origin) problems.push(`left the page for ${page.url()}`);
  for (const u of log.requests) {
    let host = '';
    try { host = new URL(u).hostname; } catch { /* counted below */ }
    if (/(^|\.)evil\.example$/.test(host) && !allowedImages.has(u)) problems.push(`request to ${u}`);
    if (!/^https?:/.test(u)) problems.push(`non-http request ${u.slice(0, 100)}`);
  }
  return problems;
}

async function assertNothingExecuted(page, log, base, label, allowedImages = new Set()) {
  assert.deepEqual(await executionProblems(page, log, base, allowedImages), [], label);
}

// The daemon's promise: no string of its answer (nor key) holds a raw ' or ",
// so none can close a quoted attribute. Returns a list of problems.
function rawQuoteProblems(answer) {
  const problems = [];
  const walk = (v, at) => {
    if (typeof v === 'string') {
      if (/["']/.test(v)) problems.push(`raw quote in ${at}: ${JSON.stringify(v.slice(0, 100))}`);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${at}[${i}]`));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (/["']/.test(k)) problems.push(`raw quote in the key ${JSON.stringify(k)} in ${at || 'the answer'}`);
        walk(x, at ? `${at}.${k}` : k);
      }
    }
  };
  walk(answer, '');
  return problems;
}

// Every string of an answer as the URL a naive page requests when it puts the
// string into a src (legacy-naive-fields.html does, for every string).
function stringUrlsOf(answer, pageUrl) {
  const urls = new Set();
  const walk = (v) => {
    if (typeof v === 'string') { try { urls.add(new URL(v, pageUrl).href); } catch { /* not a URL */ } } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => { walk(k); walk(x); });
  };
  walk(answer);
  return urls;
}

// legacy-naive-fields.html with each distinct string of the answer once (at
// its first place) rather than at every place: what a quoted attribute makes
// of a string depends only on the string, and Chromium takes a few ms per
// <iframe>. d-hostile's own test runs the page in full.
const NAIVE_DISTINCT = '?distinct';

const NAIVE_PAGES = {
  'legacy-jquery-style.html': { body: LEGACY_PAGE, label: "the Go original's page script" },
  'legacy-naive-fields.html': { body: NAIVE_PAGE, label: 'a naive script, every field in every attribute context' },
};

// Loads one of the naive pages on an article of a running demo; returns every
// problem the hostile-content checks find there (nothing executed, nothing
// requested from the hostile host, no dangerous element or attribute, nothing
// planted outside the page's containers), and writes a screenshot.
// With `answer`, the page gets that instead of the daemon's; `query` is
// appended to the page's URL (NAIVE_DISTINCT, NAIVE_LIGHT).
async function naivePageProblems(demo, article, pageName, shot, { answer = null, query = '' } = {}) {
  const { context, page, log } = await openPage({ base: demo.base });
  try {
    const pageUrl = new URL(article + pageName + query).href;
    await context.route((u) => u.href === pageUrl, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: NAIVE_PAGES[pageName].body }));
    await routeNaiveAssets(context, demo.base);
    const daemons = !answer;
    if (answer) {
      await context.route(article + 'comments.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(answer) }));
    } else {
      answer = await (await page.request.get(article + 'comments.json')).json();
    }
    await page.goto(pageUrl);
    // (A bound only: the page inserts thousands of elements, hundreds of iframes.)
    await page.waitForSelector('body[data-done]', { state: 'attached', timeout: 60000 });
    const problems = daemons ? rawQuoteProblems(answer) : [];
    const error = await page.getAttribute('body', 'data-error');
    if (error !== null) problems.push(`the page script failed: ${error}`);
    const inserted = await page.locator('#comments .comment').count();
    if (inserted < Object.keys(answer.comments).length) problems.push(`only ${inserted} comments inserted`);
    const allowed = imageUrlsOf(answer);
    if (pageName === 'legacy-naive-fields.html') for (const u of stringUrlsOf(answer, pageUrl)) allowed.add(u);
    problems.push(...await executionProblems(page, log, demo.base, allowed));
    problems.push(...await page.evaluate(domProblems, { rootSelector: '#mastodon-stats, #comments', requireAbsoluteUrls: false, allowedScripts: ['inline'], loadContexts: LOAD_CONTEXTS }));
    if (pageName === 'legacy-naive-fields.html') {
      problems.push(...await page.evaluate(loadContextProblems, { contexts: LOAD_CONTEXTS }));
      // The page wrote a wrapper for every string (each distinct one with
      // ?distinct) in every context (but the ?skip ones).
      const q = new URL(pageUrl).searchParams;
      const all = [];
      const walk = (v) => { if (typeof v === 'string') all.push(v); else if (Array.isArray(v)) v.forEach(walk); else if (v && typeof v === 'object') Object.values(v).forEach(walk); };
      walk(answer.stats || {});
      for (const [id, c] of Object.entries(answer.comments || {})) { all.push(id); walk(c); }
      const strings = q.has('distinct') ? new Set(all).size : all.length;
      const contexts = NAIVE_CONTEXTS.filter((c) => !q.getAll('skip').some((p) => c.startsWith(p))).length;
      const written = await page.evaluate(() => (window.__legacyCtx || []).length);
      if (written !== strings * contexts) problems.push(`the page wrote ${written} wrappers, not ${strings} strings × ${contexts} contexts`);
    }
    // Nothing outside the containers: the body holds what the page put there.
    const body = await page.$$eval('body > *', (els) => els.map((e) => e.localName + (e.id ? '#' + e.id : '')));
    if (JSON.stringify(body) !== JSON.stringify(['h1', 'div#mastodon-stats', 'div#comments', 'script'])) problems.push(`body children ${JSON.stringify(body)}`);
    if (await page.locator('#mastodon-stats .comment').count()) problems.push('a comment inside the stats');
    for (const e of log.errors) problems.push(`page error ${e}`);
    // legacy-naive-fields.html is tens of thousands of pixels tall: its first screen.
    await screenshot(page, shot, { fullPage: pageName !== 'legacy-naive-fields.html' });
    return problems;
  } finally {
    await context.close();
  }
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
  // The Go original's page script, and a naive script that also uses the new
  // fields and puts every string into quoted attributes, href and src,
  // inserting the same answer with innerHTML.
  try {
    const article = articleUrl(demo.base, exp);
    assert.deepEqual(await naivePageProblems(demo, article, 'legacy-jquery-style.html', 'd-hostile-legacy-script'), [], NAIVE_PAGES['legacy-jquery-style.html'].label);
    assert.deepEqual(await naivePageProblems(demo, article, 'legacy-naive-fields.html', 'd-hostile-legacy-naive-fields'), [], NAIVE_PAGES['legacy-naive-fields.html'].label);
  } finally {
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
    // Control: the naive all-fields page runs it too, and its checks see it.
    {
      const { context, page, log } = await openPage({ base: demo.base });
      await context.route(url + 'comments.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: raw }));
      await context.route(url + 'legacy-naive-fields.html' + NAIVE_DISTINCT, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: NAIVE_PAGE }));
      await routeNaiveAssets(context, demo.base);
      await page.goto(url + 'legacy-naive-fields.html' + NAIVE_DISTINCT);
      // (Only the dialog is asserted, so only the dialog is awaited: on this
      // long page the payload that navigates away comes seconds later.)
      for (let i = 0; i < 100 && !log.dialogs.length; i++) await page.waitForTimeout(100);
      assert.ok(log.dialogs.length > 0, 'the dialog trap fires on the naive page');
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
        if (alt === null) continue;
        // A sensitive thumbnail gets its alt text (and src) when revealed.
        const reveal = own.locator('button.mc-reveal');
        if (await reveal.count()) {
          assert.equal(await own.locator('img.mc-thumb').first().getAttribute('src'), null, `${id}: sensitive, not loaded`);
          await reveal.first().click();
        }
        assert.equal(await own.locator('img.mc-thumb').first().getAttribute('alt'), alt);
        assert.ok(await own.locator('img.mc-thumb').first().getAttribute('src'), `${id}: loaded`);
      }
    }
    for (const id of Object.keys(exp.hidden)) assert.ok(!(id in thread));
    const html = await page.content();
    for (const s of exp.must_not_contain) assert.ok(!html.includes(s), `${s} in the page`);
    assert.equal(await page.locator('[data-comment-id="117041489510403893"] > .mc-body .mc-edited').count(), 1, 'edited marker');
    assert.equal(await page.locator('.mc-edited').count(), 1, 'only the edited reply is marked');
    // The edit time is visible text (not only a tooltip), in a <time>.
    const edited = page.locator('[data-comment-id="117041489510403893"] > .mc-body .mc-edited');
    assert.equal(await edited.locator('time').getAttribute('datetime'), '2026-08-05T08:31:17.000Z');
    assert.match(await edited.innerText(), /^edited \d{1,2} \w{3,} 2026, \d\d:\d\d$/);
    assert.equal(await edited.isVisible(), true);
    // Oldest first at the top level, also for the reply from a slow clock.
    const top = await page.$$eval('.mc-thread > [data-comment-id] > .mc-body time.mc-date', (ts) => ts.map((t) => Date.parse(t.getAttribute('datetime'))));
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
      assert.equal(await page.locator('[data-comment-id], ol.mc-thread').count(), 0);
      assert.match(await page.textContent('.mc-stats'), /\b0 replies\b/);
      assert.deepEqual(log.errors, []);
      await screenshot(page, 'empty-no-replies');
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
    assert.equal(await page.locator('.mc-edited, .mc-cw, .mc-media, .mc-withheld, .mc-acct, .mc-bot, .mc-favs, .mc-boosts').count(), 0);
    // Names, avatars, dates and links as before.
    for (const [id, c] of Object.entries(exp.comments)) {
      const own = page.locator(`[data-comment-id="${id}"] > .mc-body`);
      assert.equal(stripBidi((await own.locator('.mc-name').textContent()).trim()), stripBidi(c.author.display_name_text), `${id} name`);
      assert.equal(await own.locator('img.mc-avatar').getAttribute('src'), c.author.avatar, `${id} avatar`);
      assert.equal(await own.locator('time').getAttribute('datetime'), c.date, `${id} date`);
    }
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'go-original-answer');
  });
});

test('data- options: heading, heading level, author URL, avatars off, media as links, emoji off', async () => {
  const exp = expectOf('b-emoji-cw-media');
  await inDemoPage('b-emoji-cw-media', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp) + 'options.html';
    await context.route(url, (route) => route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8',
      body: `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><link rel="stylesheet" href="/mastodon-comments.css"></head><body>` +
        `<div class="mastodon-comments" data-src="comments.json" data-heading="Replies from the fediverse" data-heading-level="3"` +
        ` data-author-url="https://chaos.example/@maya" data-avatars="off" data-media="link" data-emoji="off"></div>` +
        `<script src="/mastodon-comments.js" defer></script></body></html>`,
    }));
    // The site has a cookie: the page request carries it, the JSON fetch does not.
    await context.addCookies([{ name: 'blog_session', value: 'secret', url: demo.base }]);
    const cookieOf = async (req) => (await req.allHeaders()).cookie || null;
    const jsonRequest = page.waitForRequest((r) => r.url().endsWith('/comments.json'));
    const pageResponse = await page.goto(url);
    assert.match(String(await cookieOf(pageResponse.request())), /blog_session=secret/, 'control: the page request has the cookie');
    assert.equal(await cookieOf(await jsonRequest), null, 'comments.json is fetched without cookies');
    await waitRendered(page);
    assert.equal(await page.textContent('h3.mc-heading'), 'Replies from the fediverse');
    assert.equal(await page.locator('img.mc-avatar').count(), 0);
    assert.equal(await page.locator('img.mc-thumb').count(), 0);
    assert.ok(await page.locator('.mc-media-text').count() >= 1);
    assert.equal(await page.locator('[data-comment-id="116885540044802834"].mc-comment--author').count(), 1);
    assert.equal(await page.locator('.mc-comment--author').count(), 1);
    // Custom emoji as their :shortcode: text, in names, warnings and content.
    assert.equal(await page.locator('.mastodon-comments img').count(), 0, 'no image at all');
    assert.equal(stripBidi((await page.locator('[data-comment-id="116885472149506833"] > .mc-body .mc-name').textContent()).trim()), 'Ferris :ferris: the crab :rust:');
    assert.match(await page.locator('[data-comment-id="116885540044802834"] > .mc-body .mc-cw-text').textContent(), /:blobcat_heart:/);
    await page.waitForLoadState('networkidle');
    // The privacy promise of the README: no request to any other server.
    assert.deepEqual(log.external, [], 'no request to other servers');
    assert.deepEqual(log.requests.filter((u) => new URL(u).origin !== new URL(demo.base).origin), []);
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'options');
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

// The demo exactly as a newcomer starts it: no fixtures, the built-in sample
// thread, whose stand-in serves the avatars (and any emoji and media) and the
// daemon's image proxy (proxy_media) brings them to the page's own origin.
// Every request the page makes is recorded (page, script, style sheet,
// fonts, images): all go to the demo's origin, none to the stand-in or
// anywhere else, and every image loads. Nothing else is reachable: any
// other host, the stand-in's too, gets a placeholder and is logged.
test('the demo command: its page requests nothing but its own origin, every image loads through the image proxy, one avatar per account', async () => {
  const demo = await startDemo(null);
  const origin = new URL(demo.base).origin;
  const { context, page, log } = await openPage({ base: demo.base });
  const pictures = [];
  page.on('response', async (r) => {
    if (r.request().resourceType() === 'image') pictures.push({ url: r.url(), status: r.status(), headers: r.headers() });
  });
  try {
    await page.goto(demo.base + '/');
    await waitRendered(page);
    assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');
    const images = page.locator('img');
    const n = await images.count();
    const comments = await page.locator('[data-comment-id]').count();
    assert.ok(comments >= 5, `${comments} comments`);
    assert.ok(n >= comments, `${n} images for ${comments} comments`);
    // Avatars load lazily: bring each into view, then it must have decoded.
    for (let i = 0; i < n; i++) {
      const img = images.nth(i);
      await img.scrollIntoViewIfNeeded();
      const src = await img.getAttribute('src');
      await page.waitForFunction((e) => e.complete && e.naturalWidth > 0 && e.naturalHeight > 0, await img.elementHandle(), { timeout: 10000 })
        .catch(() => assert.fail(`image ${src} did not load`));
      // A picture whose data is cut or corrupt still has a size and is
      // "complete": its pixels must be there. It is on the page's own
      // origin, so a canvas may read them.
      const pixels = await page.evaluate(async (url) => {
        const im = new Image();
        im.crossOrigin = 'anonymous';
        im.src = url;
        await im.decode();
        const c = document.createElement('canvas');
        c.width = im.naturalWidth;
        c.height = im.naturalHeight;
        const g = c.getContext('2d');
        g.drawImage(im, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const colours = new Set();
        let opaque = 0;
        for (let p = 0; p < d.length; p += 4) {
          if (d[p + 3] === 255) { opaque++; colours.add((d[p] << 16) | (d[p + 1] << 8) | d[p + 2]); }
        }
        return { total: d.length / 4, opaque, colours: colours.size };
      }, src);
      assert.ok(pixels.opaque > pixels.total / 2 && pixels.colours >= 2, `image ${src} has no picture: ${JSON.stringify(pixels)}`);
      const u = new URL(src);
      assert.equal(u.origin, origin, `${src}: the page's pictures come from its own origin`);
      assert.ok(u.pathname.startsWith('/comments-media/'), `${src}: through the image proxy`);
    }
    await page.waitForLoadState('networkidle').catch(() => {});
    assert.deepEqual(log.failed, [], 'failed requests');
    // The privacy promise of proxy_media: the reader's browser talks to the
    // blog and to no one else.
    assert.ok(log.requests.length > n, `${log.requests.length} requests recorded`);
    assert.deepEqual(log.requests.filter((r) => new URL(r).origin !== origin), [], `requests to other origins than ${origin}`);
    assert.deepEqual(log.external, [], 'requests to other hosts');
    assert.ok(pictures.length >= n, `${pictures.length} image responses for ${n} images`);
    for (const p of pictures) {
      assert.equal(p.status, 200, p.url);
      assert.equal(p.headers['content-type'], 'image/png', p.url);
      assert.equal(p.headers['x-content-type-options'], 'nosniff', p.url);
      assert.equal(p.headers['content-security-policy'], "default-src 'none'; sandbox", p.url);
    }
    // Each account its own avatar.
    const avatars = await page.$$eval('img.mc-avatar', (els) => els.map((e) => [e.closest('.mc-header').querySelector('.mc-acct').textContent.trim(), e.getAttribute('src')]));
    const byAccount = new Map();
    for (const [account, src] of avatars) {
      if (byAccount.has(account)) assert.equal(byAccount.get(account), src, `${account}: one avatar`);
      byAccount.set(account, src);
    }
    assert.equal(new Set(byAccount.values()).size, byAccount.size, `distinct avatars: ${JSON.stringify([...byAccount])}`);
    assert.deepEqual(log.errors, []);
    await screenshot(page, 'demo');
    if (process.env.MC_README_SCREENSHOT) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: process.env.MC_README_SCREENSHOT, fullPage: true });
    }
  } finally {
    await context.close();
    await demo.stop();
  }
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

// d-hostile plus replies aimed at quoted attributes: raw ' and " in the
// display name, account, content warning, content text and alt text, and URLs
// with "=" in the path and "/" in the query or fragment (which, once a quote
// has broken out of a naive page's title="…", would become attribute names).
// Written to a temporary scenario folder that the demo serves like the others.
const ATTR_ROOT = '116963514777611521';
function attributeScenario() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-browser-attr-'));
  fs.cpSync(path.join(FIXTURES, 'd-hostile'), dir, { recursive: true });
  const ctxFile = (d) => path.join(dir, d, `${ATTR_ROOT}.json`);
  const template = JSON.parse(fs.readFileSync(ctxFile('context'), 'utf8')).descendants.find((st) => st.id === '116963672064003352');
  const status = (id, n, account, fields) => {
    const st = structuredClone(template);
    Object.assign(st, {
      id, created_at: `2026-07-22T13:0${n}:00.000Z`, in_reply_to_id: ATTR_ROOT, spoiler_text: '', sensitive: false,
      uri: `https://evil.example/users/${account.username}/statuses/${id}`, url: `https://evil.example/@${account.username}/${id}`,
      emojis: [], media_attachments: [],
    }, fields);
    st.account = { ...structuredClone(template.account), ...account };
    return st;
  };
  const emoji = { shortcode: 'q', url: 'https://files.mastodon.example/custom_emojis/onload=alert(40)/q.png?/onload=alert(39)', static_url: 'https://files.mastodon.example/custom_emojis/onload=alert(40)/q.png?/onload=alert(39)', visible_in_picker: true };
  const added = [
    status('116963711385603354', 1, {
      id: '114290000000000006', username: 'quote', acct: "quote' onmouseover='alert(41)' x='@evil.example",
      display_name: `Quote' onmouseover='alert(42)' x='1" onmouseover="alert(43)" y=" :q:`,
      url: 'https://evil.example/@quote/onmouseover=alert(44)',
      avatar: 'https://files.mastodon.example/cache/accounts/avatars/onerror=alert(45)/a.jpg?/onerror=alert(46)#/onload=alert(47)',
      avatar_static: 'https://files.mastodon.example/cache/accounts/avatars/onerror=alert(45)/a.jpg?/onerror=alert(46)#/onload=alert(47)',
      emojis: [emoji],
    }, {
      uri: 'https://evil.example/users/quote/statuses/1/onmouseover=alert(48)?/onclick=alert(49)',
      url: 'https://evil.example/@quote/1/onmouseover=alert(48)#/onclick=alert(49)',
      spoiler_text: `Spoiler' autofocus tabindex='0' onfocus='alert(50)' x='" autofocus tabindex="0" onfocus="alert(51)" x=" :q:`,
      content: `<p><a href="https://ok.example/onmouseover=alert(52)/x?/onmouseover=alert(53)#/onfocus=alert(54)">first link</a> it's ' onmouseover='alert(55)' x=' and " onmouseover="alert(56)" y=" :q:</p>`,
      emojis: [emoji],
      media_attachments: [{
        id: '116963711385603360', type: 'image',
        url: 'https://files.mastodon.example/media_attachments/files/onerror=alert(57)/o.jpg?/onerror=alert(58)',
        preview_url: 'https://files.mastodon.example/media_attachments/files/onerror=alert(59)/s.jpg#/onload=alert(60)',
        remote_url: null, preview_remote_url: null, text_url: null, meta: null, blurhash: null,
        description: `Alt' onmouseover='alert(61)' x='" onmouseover="alert(62)" y="`,
      }],
    }),
    status('116963731046403355', 2, {
      id: '114290000000000007', username: 'planter', acct: 'planter@evil.example',
      display_name: `Planter' id='planted-sq' name='planted-sq' x='" id="planted-dq" name="planted-dq" x="`,
      url: 'https://evil.example/@planter', avatar: template.account.avatar, avatar_static: template.account.avatar_static,
    }, {
      content: `<p>Text first " onmouseover="alert(63)" id="planted-toot" then ' onmouseover='alert(64)' id='planted-toot-sq' <a href="https://ok.example/p?/onclick=alert(65)">x</a></p>`,
    }),
  ];
  for (const d of ['context', 'context-anonymous']) {
    const ctx = JSON.parse(fs.readFileSync(ctxFile(d), 'utf8'));
    ctx.descendants.push(...structuredClone(added));
    fs.writeFileSync(ctxFile(d), JSON.stringify(ctx));
  }
  for (const st of added) {
    fs.writeFileSync(path.join(dir, 'statuses', `${st.id}.json`), JSON.stringify(st));
    fs.writeFileSync(path.join(dir, 'accounts', `${st.account.id}.json`), JSON.stringify(st.account));
  }
  return { dir, ids: added.map((st) => st.id) };
}

test('attribute contexts: naive pages stay inert when every string is put into quoted attributes', async () => {
  const exp = expectOf('d-hostile');
  const scenario = attributeScenario();
  const demo = await startDemo(scenario.dir);
  try {
    const article = articleUrl(demo.base, exp);
    const answer = await (await fetch(article + 'comments.json')).json();
    for (const id of scenario.ids) assert.ok(id in answer.comments, `${id} in the answer`);
    // Our script: as inert as with d-hostile.
    {
      const { context, page, log } = await openPage({ base: demo.base });
      try {
        await page.goto(article);
        await waitRendered(page);
        assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');
        for (const id of scenario.ids) assert.equal(await page.locator(`[data-comment-id="${id}"]`).count(), 1);
        const problems = [
          ...await executionProblems(page, log, demo.base, imageUrlsOf(answer)),
          ...await page.evaluate(domProblems, { rootSelector: '.mastodon-comments', requireAbsoluteUrls: true, allowedScripts: ['/mastodon-comments.js'] }),
          ...log.errors.map((e) => `page error ${e}`),
        ];
        assert.deepEqual(problems, [], 'mastodon-comments.js');
        // The quotes are text.
        assert.match(await page.locator('[data-comment-id="116963711385603354"] > .mc-body .mc-name').textContent(), /^Quote' onmouseover='alert\(42\)'/);
        await screenshot(page, 'd-hostile-attributes');
      } finally {
        await context.close();
      }
    }
    // The naive pages. A failure lists each field and context that broke out
    // (the daemon promises: no string of the answer holds a raw ' or ", so
    // none can close a quoted attribute; text has &#39; and &quot;, URLs
    // percent-encode quotes, and the HTML fields write their own attribute
    // values unquoted, with character references).
    const problems = {};
    for (const [pageName, shot] of [['legacy-jquery-style.html', 'd-hostile-attributes-legacy-script'], ['legacy-naive-fields.html', 'd-hostile-attributes-naive-fields']]) {
      const found = await naivePageProblems(demo, article, pageName, shot, { query: pageName === 'legacy-naive-fields.html' ? NAIVE_DISTINCT : '' });
      if (found.length) problems[NAIVE_PAGES[pageName].label] = found;
    }
    assert.deepEqual(problems, {}, 'naive pages: inserting the answer into quoted attributes planted handlers, ids or requests');

    // Control: the same answer from a daemon that left the quotes raw (every
    // string with &#39;, &quot; and their numeric and percent-encoded forms
    // turned back into ' and ") does break out on the naive page, and the
    // checks name the field and the context.
    const rawQuotes = (v) => {
      if (typeof v === 'string') return v.replace(/&#39;|&#x27;|&apos;|%27/gi, "'").replace(/&quot;|&#34;|&#x22;|%22/gi, '"');
      if (Array.isArray(v)) return v.map(rawQuotes);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rawQuotes(x)]));
      return v;
    };
    const unencoded = rawQuotes(answer);
    assert.match(unencoded.comments['116963711385603354'].toot, /" onmouseover="alert\(56\)"/, 'control: the quotes are raw');
    const found = await naivePageProblems(demo, article, 'legacy-naive-fields.html', 'd-hostile-attributes-unencoded', { answer: unencoded, query: NAIVE_DISTINCT });
    const expectIn = (what, where) => assert.ok(found.some((p) => p.includes(what) && p.endsWith(`(in ${where})`)), `control: ${what} in ${where}\n${found.join('\n')}`);
    // Handlers and ids planted through quoted attributes (domProblems).
    expectIn('attribute onmouseover="alert(42)"', '116963711385603354 author.display_name title-sq');
    expectIn('attribute onmouseover="alert(43)"', '116963711385603354 author.display_name title-dq');
    expectIn('attribute onmouseover="alert(41)"', '116963711385603354 author.acct title-sq');
    expectIn('attribute onfocus="alert(50)"', '116963711385603354 spoiler_text title-sq');
    expectIn('attribute onfocus="alert(51)"', '116963711385603354 spoiler_text title-dq');
    expectIn('attribute onmouseover="alert(55)"', '116963711385603354 toot title-sq');
    expectIn('attribute onmouseover="alert(56)"', '116963711385603354 toot title-dq');
    expectIn('attribute onmouseover="alert(61)"', '116963711385603354 media[0].description title-sq');
    expectIn('attribute onmouseover="alert(62)"', '116963711385603354 media[0].description title-dq');
    expectIn('attribute id="planted-sq"', '116963731046403355 author.display_name title-sq');
    expectIn('attribute id="planted-dq"', '116963731046403355 author.display_name title-dq');
    expectIn('attribute onmouseover="alert(63)"', '116963731046403355 toot title-dq');
    expectIn('attribute id="planted-toot"', '116963731046403355 toot title-dq');
    expectIn('attribute onmouseover="alert(63)"', '116963731046403355 toot script-data-dq');
    // The elements that load something (loadContextProblems): attributes
    // added, the loading attribute changed, markup and script text inside.
    expectIn('attributes ["alt","onmouseover","x","src"] on <img>, not alt and src', '116963711385603354 author.display_name img-alt-sq');
    expectIn('attributes ["src","alt","onmouseover","x"] on <img>, not alt and src', '116963711385603354 author.display_name img-alt-sq-rev');
    expectIn('attributes ["title","onmouseover","x","href"] on <link>, not title and href', '116963711385603354 author.acct link-title-sq');
    expectIn('attributes ["data-x","autofocus","tabindex","onfocus","x","src"] on <script>, not data-x and src', '116963711385603354 spoiler_text script-data-sq');
    expectIn('src="x" on <img>, not "/mc-ctx/ok.png"', '116963672064003352 author.display_name img-alt-dq');
    expectIn('src="x" on <script>, not "/mc-ctx/widget.js"', '116963672064003352 author.display_name script-data-dq');
    expectIn('src="x" on <iframe>, not "/mc-ctx/frame"', '116963672064003352 author.acct iframe-title-dq');
    expectIn('href="https://ok.example/p?/onclick=alert(65)" on <a>, not "/mc-ctx/article"', '116963731046403355 toot a-title-sq');
    expectIn('wrapper holds <img> "x" <p>', '116963731046403355 toot img-alt-dq');
    expectIn('<script> holds "x', '116963731046403355 toot script-data-dq');
  } finally {
    await demo.stop();
    fs.rmSync(scenario.dir, { recursive: true, force: true });
  }
});

// Every scenario of the demo (the fixture folders with a context/) through
// the naive all-fields page: no string of any answer breaks out of a quoted
// attribute. d-hostile goes through it in its own test above, in full.
// Here each distinct string goes once (NAIVE_DISTINCT; e-long-thread has 958
// of 2200) into every context but the <iframe> ones: Chromium takes 5 to
// 50 ms per iframe depending on the machine's load, and here that would be
// 4692 iframes (3832 for e-long-thread). An iframe's start tag is
// tokenized exactly like the <img>, <a>, <script> and <link> ones,
// which every string still goes through, <script> covers an element whose
// content is raw text, and the iframe contexts are run on d-hostile and on
// the attribute scenario (and its control), where the hostile strings are.
const NAIVE_LIGHT = `${NAIVE_DISTINCT}&skip=iframe-title`;
test('every scenario: the naive all-fields page stays inert', async () => {
  const scenarios = fs.readdirSync(FIXTURES).filter((d) => fs.existsSync(path.join(FIXTURES, d, 'context'))).sort();
  for (const name of ['a-simple-thread', 'b-emoji-cw-media', 'c-visibility', 'd-hostile', 'e-long-thread', 'f-edge-cases']) assert.ok(scenarios.includes(name), `${name} is a scenario`);
  // The longest first, so that the two run side by side.
  const todo = scenarios.filter((name) => name !== 'd-hostile').sort((a, b) => (b === 'e-long-thread') - (a === 'e-long-thread'));
  const problems = {};
  // Two at a time: each page is its own browser context (and renderer).
  const worker = async () => {
    for (let name; (name = todo.shift());) {
      const demo = await startDemo(name);
      try {
        const found = await naivePageProblems(demo, articleUrl(demo.base, expectOf(name)), 'legacy-naive-fields.html', `${name}-legacy-naive-fields`, { query: NAIVE_LIGHT });
        if (found.length) problems[name] = found;
      } finally {
        await demo.stop();
      }
    }
  };
  for (const r of await Promise.allSettled([worker(), worker()])) if (r.status === 'rejected') throw r.reason;
  assert.deepEqual(problems, {}, NAIVE_PAGES['legacy-naive-fields.html'].label);
});

// An answer with keys that are also names of Object.prototype members, and
// markup in names and content warnings, built by the test (the daemon drops
// ids that are not alphanumeric; the script must not rely on it).
function trickyAnswer(stats) {
  const own = (o, k, v) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  const root = stats.root;
  const emoji = (name) => `<img class="emoji" src="https://files.mastodon.example/custom_emojis/${name}.png" alt=":${name}:" title=":${name}:">`;
  const media = (type, i) => ({
    type, description: `attachment ${i}`,
    url: `https://files.mastodon.example/media_attachments/files/original/${i}.jpg`,
    preview_url: `https://files.mastodon.example/media_attachments/files/small/${i}.jpg`,
  });
  const comment = (n, reply_to, fields) => ({
    author: { display_name: `Person ${n}`, avatar: `https://files.mastodon.example/accounts/avatars/${n}.png`, url: `https://fosstodon.example/@p${n}`, acct: `p${n}@fosstodon.example`, bot: false },
    toot: `<p>Reply ${n}</p>`, date: `2026-07-01T0${n}:00:00.000Z`, url: `https://fosstodon.example/users/p${n}/statuses/${n}`,
    reply_to, root, edited: null, spoiler_text: '', sensitive: false, media: [], favs: 0, reblogs: 0, ...fields,
  });
  const comments = {};
  own(comments, '__proto__', comment(1, root, {
    author: { display_name: emoji('blobfox') + ' ' + emoji('blobcat'), avatar: 'https://files.mastodon.example/accounts/avatars/1.png', url: 'https://fosstodon.example/@emojionly', acct: 'emojionly@fosstodon.example', bot: false },
    media: [media('constructor', 1), media('__proto__', 2), media('toString', 3), media('hasOwnProperty', 4)],
  }));
  own(comments, 'constructor', comment(2, '__proto__', {
    author: { display_name: '<p>Para <a href="https://evil.example/name">link</a></p><p>Two ' + emoji('wave') + '</p>', avatar: '', url: 'https://fosstodon.example/@p2', acct: 'p2@fosstodon.example' },
    spoiler_text: '<p>CW <a href="https://evil.example/cw">link</a> <strong>strong</strong> ' + emoji('warn') + '</p>',
  }));
  own(comments, 'hasOwnProperty', comment(3, 'constructor'));
  own(comments, 'toString', comment(4, 'valueOf'));
  own(comments, 'valueOf2', comment(5, 'toString'));
  return { comments, stats: { ...stats, replies: 5 }, withheld: 0, stale: false };
}

test('inherited keys, emoji-only names, markup in names and warnings', async () => {
  const exp = expectOf('a-simple-thread');
  await inDemoPage('a-simple-thread', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp);
    const stats = (await (await page.request.get(url + 'comments.json')).json()).stats;
    const body = JSON.stringify(trickyAnswer(stats));
    assert.match(body, /"__proto__":\{/, 'the answer has an own "__proto__" key');
    await context.route(url + 'comments.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body }));
    await page.goto(url);
    await waitRendered(page);
    assert.equal(await page.getAttribute('.mastodon-comments', 'data-mc-state'), 'done');
    assert.deepEqual(log.errors, []);
    const thread = await threadOf(page);
    assert.deepEqual(Object.keys(thread).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf2']);
    assert.equal(thread.__proto__.top, true);
    assert.equal(thread.constructor.parent, '__proto__');
    assert.equal(thread.hasOwnProperty.parent, 'constructor');
    assert.equal(thread.toString.top, true, 'a reply to the missing "valueOf" goes to the top');
    assert.equal(thread.valueOf2.parent, 'toString');
    // Media types named like Object.prototype members are unknown attachments.
    const items = page.locator('[data-comment-id="__proto__"] > .mc-body .mc-media-item');
    assert.equal(await items.count(), 4);
    for (const item of await items.all()) assert.match(await item.getAttribute('class'), /^mc-media-item mc-media--unknown$/);
    const text = await page.locator('.mastodon-comments').textContent();
    assert.doesNotMatch(text, /function|native code|\[object/);
    for (let i = 1; i <= 4; i++) assert.equal(await page.locator(`img.mc-thumb[alt="attachment ${i}"]`).count(), 1);
    // A name made only of custom emoji is kept, not replaced by the username.
    const emojiName = page.locator('[data-comment-id="__proto__"] > .mc-body .mc-name');
    assert.equal(await emojiName.locator('img.emoji').count(), 2);
    assert.doesNotMatch(await emojiName.textContent(), /emojionly/);
    assert.match(await page.locator('[data-comment-id="__proto__"] > .mc-body img.mc-avatar').getAttribute('alt'), /:blobfox: :blobcat:/);
    // Names and warnings: text and custom emoji only, nothing nested in the
    // author link or the <summary>.
    const own2 = page.locator('[data-comment-id="constructor"] > .mc-body');
    assert.equal(await own2.locator('.mc-name *:not(img.emoji), .mc-cw-summary a, .mc-cw-summary p, .mc-cw-summary strong').count(), 0);
    assert.equal(await own2.locator('a.mc-author a').count(), 0);
    assert.equal((await own2.locator('.mc-name').textContent()).trim(), 'Para link Two');
    assert.equal(await own2.locator('.mc-name img.emoji').count(), 1);
    assert.equal((await own2.locator('.mc-cw-text').textContent()).trim(), 'CW link strong');
    assert.equal(await own2.locator('.mc-cw-text img.emoji').count(), 1);
    assert.match(await page.locator('[data-comment-id="hasOwnProperty"] > .mc-body').textContent(), /Reply 3/);
    assert.deepEqual(log.dialogs, []);
    await screenshot(page, 'inherited-keys');
  });
});

test('no layout shift while avatars and images load', async () => {
  const exp = expectOf('a-simple-thread');
  await inDemoPage('a-simple-thread', {}, async ({ demo, context, page, log }) => {
    const url = articleUrl(demo.base, exp) + 'shift.html';
    // The comments at the top of the viewport, text after them.
    await context.route(url, (route) => route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8',
      body: `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><link rel="stylesheet" href="/mastodon-comments.css"></head><body>` +
        `<div class="mastodon-comments" data-src="comments.json"></div><p id="after">Text after the comments.</p>` +
        `<script src="/mastodon-comments.js" defer></script></body></html>`,
    }));
    // Images from other servers arrive late (registered last, so this route wins).
    const delayed = [];
    await context.route((u) => u.origin !== new URL(demo.base).origin, async (route) => {
      delayed.push(route.request().url());
      await new Promise((r) => setTimeout(r, 1200));
      await route.fulfill({ status: 200, contentType: 'image/svg+xml', body: placeholderSvg(route.request().url()) }).catch(() => {});
    });
    await page.addInitScript(() => {
      window.__shifts = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__shifts.push({ value: e.value, t: e.startTime, input: e.hadRecentInput, nodes: (e.sources || []).map((s) => s.node && s.node.nodeType === 1 ? s.node.outerHTML.slice(0, 60) : String(s.node)) });
      }).observe({ type: 'layout-shift', buffered: true });
    });
    await page.goto(url);
    await waitRendered(page);
    // Rendered, no avatar loaded yet: from here on nothing may move.
    const t0 = await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now())))));
    const avatars = page.locator('img.mc-avatar');
    assert.equal(await avatars.count(), Object.keys(exp.comments).length);
    assert.equal(await avatars.evaluateAll((imgs) => imgs.filter((i) => i.naturalWidth > 0).length), 0, 'avatars still loading');
    await page.waitForFunction(() => [...document.querySelectorAll('img.mc-avatar')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 200)))));
    assert.ok(delayed.some((u) => /avatars/.test(u)), 'avatars came through the delayed route');
    const shifts = await page.evaluate((t) => window.__shifts.filter((s) => s.t >= t && !s.input), t0);
    const cls = shifts.reduce((a, s) => a + s.value, 0);
    assert.ok(cls < 0.001, `layout shift ${cls} while avatars loaded: ${JSON.stringify(shifts)}`);
    // Control: the observer does see a shift (a block inserted above the comments).
    await page.evaluate(() => { const d = document.createElement('div'); d.style.height = '120px'; document.body.prepend(d); });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 100)))));
    const control = await page.evaluate((t) => window.__shifts.filter((s) => s.t >= t).reduce((a, s) => a + s.value, 0), t0);
    assert.ok(control > 0.01, `the layout-shift observer works (control shift ${control})`);
    assert.deepEqual(log.errors, []);
  });
});
