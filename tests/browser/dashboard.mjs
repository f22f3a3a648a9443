#!/usr/bin/env node
// Drives the dashboard in headless Chromium against a running `chatter run --http …`.
//
//   node tests/browser/dashboard.mjs BASE_URL OUT_DIR
//
// Protocol with the caller (the Rust test): progress goes to stderr; stdout carries only
//   READY_FOR_MORE   the page shows the first alerts and the stream is live: feed more input,
//                    then write one line to stdin (EOF counts as that line);
//   BROWSER OK       every check passed (exit 0).
// Any failure prints "BROWSER FAIL: <why>" to stderr and stdout, saves OUT_DIR/failure.png
// when it can, and exits 1.
//
// Environment:
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   EXPECT_ALERTS     alerts (distinct alert ids, i.e. rows) to wait for first (default 1)
//   LIVE              1 (default): do the READY_FOR_MORE step; 0: skip it
//   EXPECT_MORE       alert events to arrive over the stream after the feed (default 1)
//   EXPECT_ENTITIES   rows of the top-entities table to wait for (default 1)
//   EXPECT_EVIDENCE   1 (default): some alert's evidence must show comments; 0: a note is fine
//   EXPECT_XSS_TEXT   1: a comment must show `<script>alert(1)</script>` as literal text
//   TOKEN             auth mode: the page must ask for a token; a wrong one must be refused
//                     with the server's message, then this one signs in
//   ALLOW_HTTP_STATUS comma-separated statuses that same-origin responses may have without
//                     failing (401 is allowed in auth mode anyway), e.g. "503"
//   TIMEOUT_MS        each wait (default 30000); STDIN_TIMEOUT_MS the wait for the feed line
//                     (default 120000)

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const TIMEOUT = Number(process.env.TIMEOUT_MS || 30000);
const STDIN_TIMEOUT = Number(process.env.STDIN_TIMEOUT_MS || 120000);
const EXPECT_ALERTS = Number(process.env.EXPECT_ALERTS || 1);
const EXPECT_MORE = Number(process.env.EXPECT_MORE || 1);
const EXPECT_ENTITIES = Number(process.env.EXPECT_ENTITIES ?? 1);
const LIVE = (process.env.LIVE ?? '1') !== '0';
const EXPECT_EVIDENCE = (process.env.EXPECT_EVIDENCE ?? '1') !== '0';
const EXPECT_XSS = process.env.EXPECT_XSS_TEXT === '1';
const TOKEN = process.env.TOKEN || '';
const XSS_TEXT = '<script>alert(1)</script>';

const base = (process.argv[2] || '').replace(/\/+$/, '');
const outDir = process.argv[3];
if (!base || !outDir) {
  console.error('usage: node tests/browser/dashboard.mjs BASE_URL OUT_DIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const log = (...a) => console.error('browser:', ...a);
let page = null;
let browser = null;

async function fail(message) {
  console.error('BROWSER FAIL: ' + message);
  console.log('BROWSER FAIL: ' + message);
  if (page) {
    try {
      await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true, timeout: 5000 });
      console.error('browser: saved ' + join(outDir, 'failure.png'));
    } catch {
      /* the page may be gone */
    }
  }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

// playwright-core lives in web/node_modules (installed by `cd web && npm ci`).
let chromium;
try {
  const require = createRequire(new URL('../../web/package.json', import.meta.url));
  ({ chromium } = require('playwright-core'));
} catch (e) {
  await fail('playwright-core is not installed: run `cd web && npm ci` (' + e.message + ')');
}

const watchdog = setTimeout(() => fail('the whole run took longer than its limit'), 4 * TIMEOUT + STDIN_TIMEOUT + 60000);
watchdog.unref();

const problems = [];
const dialogs = [];
const allowedStatus = new Set(
  (process.env.ALLOW_HTTP_STATUS || '').split(',').map((s) => Number(s.trim())).filter(Boolean),
);
if (TOKEN) allowedStatus.add(401);

async function step(name, fn) {
  log(name);
  try {
    return await fn();
  } catch (e) {
    await fail(name + ': ' + (e && e.message ? e.message.split('\n')[0] : e));
  }
}

function checkProblems(where) {
  if (dialogs.length) return fail(where + ': a JavaScript dialog opened: ' + dialogs.join(' | '));
  if (problems.length) return fail(where + ': ' + problems.join(' | '));
  return null;
}

async function csp() {
  const v = await page.evaluate(() => window.__csp || []);
  if (v.length) await fail('CSP violations: ' + JSON.stringify(v));
}

function readLine(timeoutMs) {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin });
    const t = setTimeout(() => {
      rl.close();
      reject(new Error('no line on stdin within ' + timeoutMs + ' ms'));
    }, timeoutMs);
    const done = () => {
      clearTimeout(t);
      rl.close();
      resolve();
    };
    rl.once('line', done);
    rl.once('close', done);
  });
}

const count = (sel) => page.locator(sel).count();

browser = await step('launch ' + (process.env.CHROMIUM || '/usr/bin/chromium'), () =>
  chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] }),
);
const context = await browser.newContext({ viewport: { width: 1366, height: 800 }, deviceScaleFactor: 1 });
context.setDefaultTimeout(TIMEOUT);
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener(
    'securitypolicyviolation',
    (e) => window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber }),
    true,
  );
});
page = await context.newPage();
const origin = new URL(base).origin;
page.on('dialog', (d) => {
  dialogs.push(d.type() + ': ' + d.message());
  d.dismiss().catch(() => {});
});
page.on('pageerror', (e) => problems.push('page error: ' + e.message));
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const text = msg.text();
  const m = /Failed to load resource: the server responded with a status of (\d+)/.exec(text);
  if (m && allowedStatus.has(Number(m[1])) && (msg.location().url || '').includes('/api/')) return;
  problems.push('console error: ' + text + (msg.location().url ? ' (' + msg.location().url + ')' : ''));
});
page.on('response', (res) => {
  const u = res.url();
  if (!u.startsWith(origin)) return;
  const s = res.status();
  if (s >= 400 && !(allowedStatus.has(s) && u.includes('/api/'))) problems.push('HTTP ' + s + ' for ' + u);
});
page.on('requestfailed', (req) => {
  const u = req.url();
  const why = req.failure() ? req.failure().errorText : 'failed';
  // A stream cut when the page goes away is not a fault.
  if (u.includes('/api/v1/alerts/stream') && /ERR_ABORTED/.test(why)) return;
  if (u.startsWith(origin)) problems.push('request failed: ' + u + ' (' + why + ')');
});
page.on('request', (req) => {
  if (!req.url().startsWith(origin) && !req.url().startsWith('data:')) problems.push('request to another origin: ' + req.url());
});

await step('load ' + base + '/', () => page.goto(base + '/', { waitUntil: 'load', timeout: TIMEOUT }));
await step('assets load', async () => {
  const ok = await page.evaluate(() => [...document.styleSheets].some((s) => (s.href || '').endsWith('/assets/app.css')));
  if (!ok) throw new Error('/assets/app.css is not applied');
});

if (TOKEN) {
  await step('the page asks for a token', () => page.locator('#signin').waitFor({ state: 'visible' }));
  await step('a wrong token is refused with the server\'s message', async () => {
    await page.locator('#token').fill('wrong-' + TOKEN + '-wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signin-error').waitFor({ state: 'visible' });
    const msg = (await page.locator('#signin-error').textContent()).trim();
    if (!msg) throw new Error('no error message shown');
    log('  refused: ' + msg);
  });
  await step('sign in', async () => {
    await page.locator('#token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('#signin').waitFor({ state: 'hidden' });
    if (await page.locator('#token').inputValue()) throw new Error('the token stays in the form');
    const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
    if (stored.includes(TOKEN)) throw new Error('the token was stored in web storage');
  });
} else {
  await step('no sign-in needed', async () => {
    if (await page.locator('#signin').isVisible()) throw new Error('the page asks for a token but TOKEN is not set');
  });
}

await step('status shown', () =>
  page.waitForFunction(() => {
    const t = document.querySelector('#phase').textContent;
    return t && !t.includes('loading') && document.querySelector('#k-frontier').textContent.trim() !== '\u2014';
  }),
);
if (EXPECT_ENTITIES > 0) {
  await step(`top entities (≥ ${EXPECT_ENTITIES})`, () =>
    page.waitForFunction((n) => document.querySelectorAll('#top-body tr.entity-row').length >= n, EXPECT_ENTITIES),
  );
  await step('entity chart drawn', () => page.locator('#chart .uplot canvas').first().waitFor({ state: 'visible' }));
}
await step(`alerts list (≥ ${EXPECT_ALERTS})`, () =>
  page.waitForFunction((n) => document.querySelectorAll('#alert-list > li').length >= n, EXPECT_ALERTS),
);
await step('alert stream live', () => page.locator('#stream.live-live').waitFor({ state: 'visible' }));
await csp();
await checkProblems('first load');

if (LIVE) {
  const before = await page.evaluate(() => {
    window.__noReload = true;
    return Number(document.querySelector('#alert-list').dataset.events);
  });
  const rowsBefore = await count('#alert-list > li');
  log(`  ${rowsBefore} alerts, ${before} events; asking for more input`);
  console.log('READY_FOR_MORE');
  await step('wait for the feed line on stdin', () => readLine(STDIN_TIMEOUT));
  await step(`live update: ≥ ${EXPECT_MORE} more alert events without a reload`, async () => {
    await page.waitForFunction(
      (n) => Number(document.querySelector('#alert-list').dataset.events) >= n,
      before + EXPECT_MORE,
    );
    if (!(await page.evaluate(() => window.__noReload === true))) throw new Error('the page was reloaded');
  });
  log(`  now ${await count('#alert-list > li')} alerts, ${await page.evaluate(() => document.querySelector('#alert-list').dataset.events)} events`);
}

await step('no horizontal overflow at 1366×800', async () => {
  const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > iw) throw new Error(`scrollWidth ${sw} > innerWidth ${iw}`);
});
await step('screenshot dashboard-laptop.png', () => page.screenshot({ path: join(outDir, 'dashboard-laptop.png'), fullPage: true }));

/** Opens alerts in list order until one has the evidence asked for; returns its index. */
async function openEvidence() {
  const deadline = Date.now() + TIMEOUT;
  let lastWhy = 'no alert rows';
  while (Date.now() < deadline) {
    const n = await count('#alert-list .alert-row');
    for (let i = 0; i < n && Date.now() < deadline; i++) {
      if (await page.locator('#drawer').isVisible()) {
        await page.keyboard.press('Escape');
        await page.locator('#drawer').waitFor({ state: 'hidden' });
      }
      const row = page.locator('#alert-list .alert-row').nth(i);
      await row.click();
      await page.locator('#drawer').waitFor({ state: 'visible' });
      try {
        await page.waitForFunction(
          () => document.querySelector('#drawer-body .ev-section, #drawer-body .drawer-error') !== null,
          null,
          { timeout: Math.min(10000, Math.max(1000, deadline - Date.now())) },
        );
      } catch {
        lastWhy = 'alert ' + i + ': the evidence did not load';
        continue;
      }
      const info = await page.evaluate((xss) => {
        const texts = [...document.querySelectorAll('#drawer-body .comment-text')].map((p) => p.textContent);
        const note = document.querySelector('#drawer-body .ev-note');
        const err = document.querySelector('#drawer-body .drawer-error');
        return {
          comments: texts.length,
          xss: texts.some((t) => t.includes(xss)),
          note: note ? note.textContent : null,
          error: err ? err.textContent : null,
        };
      }, XSS_TEXT);
      if (info.error) lastWhy = 'alert ' + i + ': ' + info.error;
      else if (!info.comments) lastWhy = 'alert ' + i + ': no comments (' + (info.note || 'no note') + ')';
      else if (EXPECT_XSS && !info.xss) lastWhy = 'alert ' + i + ': no comment with ' + XSS_TEXT;
      if (!EXPECT_EVIDENCE && (info.comments || info.note) && !info.error) return { i, info };
      if (info.comments && (!EXPECT_XSS || info.xss)) return { i, info };
    }
    await page.waitForTimeout(2000);
  }
  throw new Error(lastWhy);
}

const opened = await step('evidence panel shows comments', openEvidence);
log(`  alert ${opened.i}: ${opened.info.comments} comments${opened.info.note ? ', note: ' + opened.info.note : ''}`);
if (EXPECT_XSS) {
  await step('the comment with markup shows as literal text', async () => {
    const loc = page.locator('#drawer-body .comment-text', { hasText: XSS_TEXT }).first();
    await loc.waitFor({ state: 'visible' });
    const injected = await page.evaluate(() => ({
      scripts: document.querySelectorAll('body script').length,
      imgs: [...document.querySelectorAll('img')].filter((i) => !i.getAttribute('src').startsWith('/assets/')).length,
    }));
    if (injected.scripts || injected.imgs) throw new Error('markup from data became elements: ' + JSON.stringify(injected));
  });
}
await step('screenshot evidence-laptop.png', () => page.screenshot({ path: join(outDir, 'evidence-laptop.png') }));
await step('Escape closes the evidence panel', async () => {
  await page.keyboard.press('Escape');
  await page.locator('#drawer').waitFor({ state: 'hidden' });
});

await step('pause and resume', async () => {
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.locator('#paused-bar').waitFor({ state: 'visible' });
  await page.locator('#stream.live-paused').waitFor({ state: 'visible' });
  await page.locator('#pause').click();
  await page.locator('#paused-bar').waitFor({ state: 'hidden' });
  await page.locator('#stream.live-live').waitFor({ state: 'visible' });
});

await step('phone size 390×844', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(400);
  const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > iw) throw new Error(`horizontal overflow: scrollWidth ${sw} > innerWidth ${iw}`);
});
await step('screenshot dashboard-phone.png', () => page.screenshot({ path: join(outDir, 'dashboard-phone.png'), fullPage: true }));
await step('evidence at phone size', async () => {
  await page.locator('#alert-list .alert-row').nth(opened.i).click();
  await page.locator('#drawer-body .ev-section').first().waitFor({ state: 'visible' });
  const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (sw > iw) throw new Error(`horizontal overflow: scrollWidth ${sw} > innerWidth ${iw}`);
  const drawer = await page.evaluate(() => {
    const b = document.querySelector('#drawer-body');
    return [b.scrollWidth, b.clientWidth];
  });
  if (drawer[0] > drawer[1] + 1) throw new Error(`the evidence panel overflows: ${drawer[0]} > ${drawer[1]}`);
  await page.screenshot({ path: join(outDir, 'evidence-phone.png') });
  await page.keyboard.press('Escape');
  await page.locator('#drawer').waitFor({ state: 'hidden' });
});

await csp();
await checkProblems('end');
await browser.close();
console.log('BROWSER OK');
process.exit(0);
