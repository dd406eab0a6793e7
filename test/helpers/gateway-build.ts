/**
 * The gateway's sources compiled to JavaScript for the gateways tests spawn as processes.
 *
 * Under tsx a gateway process spent about 0.8 s of CPU (of 1.6 s) starting the loader, resolving
 * and transforming its ~270 modules, in a process of its own and in tsx's hook thread; the suite
 * starts hundreds of them (each cluster worker is one). esbuild compiles the same sources once
 * per content (a few hundred ms) into .test-tmp/gateway-build/<digest>/, a tree laid out like the
 * repository: the same relative paths, the top-level files and folders that are not compiled
 * (conf/, examples/, dist/, node_modules…) linked in, and package.json with the source entry
 * points naming the compiled files. What runs is still this checkout's source, as compiled at the
 * moment the test starts; the digest covers every compiled file, package.json and tsconfig.json,
 * so an edited source gets a fresh build and never a stale one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildSync } from 'esbuild';

/** The folders a running gateway imports from (nothing else in the repository is loaded). */
const SOURCE_DIRS = ['admin', 'bin', 'core', 'plugins', 'routes'];

const builds = new Map<string, string>();

function sourceFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  return files.sort();
}

/** The compiled tree for the sources as they are now (built on first use, shared by every test process). */
export function gatewayBuild(root: string): string {
  const files = sourceFiles(root);
  const hash = createHash('sha256');
  for (const file of [...files, join(root, 'package.json'), join(root, 'tsconfig.json')]) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  const digest = hash.digest('hex').slice(0, 20);
  const known = builds.get(digest);
  if (known) return known;
  const out = join(root, '.test-tmp', 'gateway-build', digest);
  // package.json is written last: a tree that has it is complete.
  if (!existsSync(join(out, 'package.json'))) {
    build(root, files, out);
    pruneOldBuilds(join(root, '.test-tmp', 'gateway-build'), digest);
  }
  builds.set(digest, out);
  return out;
}

/** Builds of earlier sources, left by earlier runs (an hour old: a run still using one has ended). */
function pruneOldBuilds(dir: string, keep: string): void {
  const hourAgo = Date.now() - 3_600_000;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (!entry.startsWith(keep) && statSync(path).mtimeMs < hourAgo) rmSync(path, { recursive: true, force: true });
  }
}

function build(root: string, files: string[], out: string): void {
  // Built aside and renamed into place, so that test processes building at once never see half a tree.
  const staging = `${out}.${process.pid}.${Date.now()}`;
  mkdirSync(staging, { recursive: true });
  try {
    buildSync({
      entryPoints: files,
      outdir: staging,
      outbase: root,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      tsconfig: join(root, 'tsconfig.json'),
      sourcemap: 'linked',
      logLevel: 'silent',
    });
    // dist/ too when it is not built yet: the gateway looks there for the dashboard, as from source.
    for (const entry of new Set([...readdirSync(root), 'dist'])) {
      if (entry.startsWith('.') || SOURCE_DIRS.includes(entry) || entry === 'package.json') continue;
      symlinkSync(join(root, entry), join(staging, entry));
    }
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: Record<string, Record<string, string>> };
    for (const target of Object.values(pkg.exports ?? {})) {
      if (target['tollgate-source']) target['tollgate-source'] = target['tollgate-source'].replace(/\.ts$/, '.js');
    }
    writeFileSync(join(staging, 'package.json'), JSON.stringify(pkg, null, 2));
    try {
      renameSync(staging, out);
    } catch (err) {
      // Another test process put the same build in place first.
      if (!existsSync(join(out, 'package.json'))) throw err;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
