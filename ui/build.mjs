/**
 * Builds the dashboard into static files: `node ui/build.mjs [outdir]` (default dist/ui), run by
 * `npm run build`. One JavaScript bundle and one stylesheet, minified, no source maps, nothing
 * fetched at run time; the Admin API serves them at /ui/ (admin/dashboard.ts).
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = fileURLToPath(new URL('.', import.meta.url));
const outdir = resolve(process.argv[2] ?? join(here, '../dist/ui'));

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome115', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir,
  legalComments: 'none',
  logLevel: 'warning',
});
await build({ absWorkingDir: here, entryPoints: { app: 'src/app.css' }, bundle: true, minify: true, outdir, logLevel: 'warning' });
await copyFile(join(here, 'index.html'), join(outdir, 'index.html'));
await copyFile(join(here, 'favicon.svg'), join(outdir, 'favicon.svg'));

if (!process.env.TOLLGATE_UI_QUIET) {
  for (const file of ['app.js', 'app.css']) {
    const content = await readFile(join(outdir, file));
    process.stdout.write(`ui: ${file} ${(content.length / 1024).toFixed(1)} KiB (${(gzipSync(content).length / 1024).toFixed(1)} KiB gzipped)\n`);
  }
}
