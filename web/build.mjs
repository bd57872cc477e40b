// Bundles the console: src/main.js -> dist/app.<hash>.js + dist/app.<hash>.css and writes
// dist/index.html that references them. The daemon serves dist/ with CSP default-src 'self', so
// index.html has no inline script or style and everything is loaded from the same origin.
//
//   node build.mjs          production build (minified)
//   node build.mjs --dev    unminified with inline source maps
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(root, 'dist');
const dev = process.argv.includes('--dev');

// Stale hashed files would otherwise pile up across builds.
await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  legalComments: 'linked',
  entryNames: '[name].[hash]',
  assetNames: 'assets/[name].[hash]',
  outdir,
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
});

let js = null;
let css = null;
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  const rel = path.relative(outdir, path.join(root, file)).split(path.sep).join('/');
  if (meta.entryPoint && rel.endsWith('.js')) js = rel;
  else if (rel.endsWith('.css') && rel.startsWith('app.')) css = rel;
}
if (!js || !css) throw new Error(`build: missing output (js=${js}, css=${css})`);

// The favicon gets a content hash too, so it can be cached forever like the bundles.
const faviconSrc = await readFile(path.join(root, 'src/favicon.svg'));
const faviconHash = createHash('sha256').update(faviconSrc).digest('hex').slice(0, 8).toUpperCase();
const favicon = `favicon.${faviconHash}.svg`;
await writeFile(path.join(outdir, favicon), faviconSrc);

// Absolute URLs: the SPA fallback serves this file for deep paths such as /admin/users.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>Smart Product</title>
<link rel="icon" type="image/svg+xml" href="/${favicon}">
<link rel="stylesheet" href="/${css}">
<script type="module" src="/${js}"></script>
</head>
<body>
<div id="app"><noscript>The Smart Product console needs JavaScript.</noscript></div>
</body>
</html>
`;
await writeFile(path.join(outdir, 'index.html'), html);

const sizes = Object.entries(result.metafile.outputs)
  .map(([f, m]) => `  ${path.basename(f)}  ${(m.bytes / 1024).toFixed(1)} KiB`)
  .join('\n');
console.log(`built web/dist (${dev ? 'dev' : 'production'}):\n${sizes}\n  ${favicon}\n  index.html`);
