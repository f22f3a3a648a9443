// Bundles the dashboard into ../src/serve/assets (committed, so `cargo build` needs no Node).
// Deterministic: same sources and lockfile → byte-identical files (no timestamps, no
// absolute paths, no source maps). `node build.mjs --check` builds in memory and fails if
// the committed assets differ from what the sources give.

import * as esbuild from 'esbuild';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, '..', 'src', 'serve', 'assets');
const check = process.argv.includes('--check');

const uplotVersion = JSON.parse(await readFile(join(here, 'node_modules', 'uplot', 'package.json'), 'utf8')).version;

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/app.js' },
  outdir: outDir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  platform: 'browser',
  charset: 'ascii',
  legalComments: 'none',
  sourcemap: false,
  metafile: false,
  write: false,
  logLevel: 'warning',
  banner: {
    js: `/*! chatter dashboard. Includes uPlot ${uplotVersion} (c) Leon Sorokin, MIT License. */`,
    css: `/*! chatter dashboard. Includes uPlot ${uplotVersion} CSS (c) Leon Sorokin, MIT License. */`,
  },
});

const files = new Map();
for (const f of result.outputFiles) files.set(basename(f.path), Buffer.from(f.contents));
for (const name of ['app.js', 'app.css']) {
  if (!files.has(name)) throw new Error(`esbuild produced no ${name}`);
}
if (files.size !== 2) throw new Error('unexpected outputs: ' + [...files.keys()].join(', '));
files.set('index.html', await readFile(join(here, 'src', 'index.html')));
files.set('favicon.svg', await readFile(join(here, 'src', 'favicon.svg')));

// No machine-specific paths may leak into what is committed.
for (const [name, buf] of files) {
  const text = buf.toString('utf8');
  for (const leak of [here, resolve(here, '..'), process.env.HOME].filter((p) => p && p.length > 1)) {
    if (text.includes(leak)) throw new Error(`${name} contains the path ${leak}`);
  }
}

if (check) {
  const stale = [];
  for (const [name, buf] of files) {
    let old = null;
    try {
      old = await readFile(join(outDir, name));
    } catch {
      old = null;
    }
    if (!old || !old.equals(buf)) stale.push(name);
  }
  if (stale.length) {
    console.error(`src/serve/assets is stale (${stale.join(', ')}): run \`cd web && npm ci && npm run build\``);
    process.exit(1);
  }
  console.log('src/serve/assets is up to date');
} else {
  await mkdir(outDir, { recursive: true });
  for (const [name, buf] of files) await writeFile(join(outDir, name), buf);
  for (const [name, buf] of files) console.log(`${name.padEnd(12)} ${String(buf.length).padStart(7)} bytes`);
}
