#!/usr/bin/env node
// The dashboard's first load to interactive, in headless chromium: from navigation start to the
// moment the top-entities table, the alerts list and the entity chart have rendered (usable).
//
//   node ops/bench-dashboard.mjs BASE_URL [LOADS]
//
// Each load is a fresh browser context (a cold cache). Prints each time and the median.
import { createRequire } from 'node:module';

const base = (process.argv[2] || '').replace(/\/+$/, '');
const loads = Number(process.argv[3] || 5);
const require = createRequire(new URL('../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const times = [];
for (let i = 0; i < loads; i++) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + '/', { waitUntil: 'commit' });
  await page.waitForFunction(
    () => document.querySelectorAll('#top-body tr.entity-row').length > 0 &&
      document.querySelectorAll('#alert-list > li').length > 0 &&
      document.querySelector('#chart .uplot canvas') !== null,
    null,
    { timeout: 30000, polling: 'raf' },
  );
  const ms = await page.evaluate(() => performance.now());
  times.push(ms);
  console.log(`load ${i + 1}: ${ms.toFixed(0)} ms to interactive`);
  await context.close();
}
await browser.close();
times.sort((a, b) => a - b);
console.log(`median ${times[Math.floor(times.length / 2)].toFixed(0)} ms over ${loads} loads`);
