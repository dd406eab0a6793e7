/**
 * The builds a benchmark run compares. Always this tree's own `dist/`; with `--rev <commit>`,
 * also that revision's, built into `.bench-rev/<commit>/` (kept between runs and ignored by git).
 * Both then run as contenders in the same rounds, on the same machine and under the same
 * background load: the only fair way to say whether a change made the gateway slower.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Build {
  /** How the tables name it: "tollgate" for this tree, "tollgate@<commit>" for a revision. */
  label: string;
  /** A checkout with node_modules and a built dist/. */
  root: string;
}

export function currentBuild(root: string): Build {
  process.stdout.write('building dist/ …\n');
  tsc(root);
  return { label: 'tollgate', root };
}

/**
 * `git archive` of the revision into `.bench-rev/<commit>`, its dependencies (this tree's
 * node_modules when both package-lock.json files are the same, else its own `npm ci`), and
 * `tsc`. A finished build is reused by later runs.
 */
export function revisionBuild(root: string, rev: string): Build {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const short = commit.slice(0, 7);
  const dir = join(root, '.bench-rev', short);
  const done = join(dir, '.built');
  if (!existsSync(done)) {
    process.stdout.write(`building ${short} into ${dir} …\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tar = join(dir, '.source.tar');
    execFileSync('git', ['archive', '--format=tar', '-o', tar, commit], { cwd: root });
    execFileSync('tar', ['-xf', tar, '-C', dir]);
    rmSync(tar);
    const sameLock = readFileSync(join(dir, 'package-lock.json'), 'utf8') === readFileSync(join(root, 'package-lock.json'), 'utf8');
    if (sameLock) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    else execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, stdio: 'inherit' });
    tsc(dir);
    writeFileSync(done, `${commit}\n`);
  }
  return { label: `tollgate@${short}`, root: dir };
}

function tsc(root: string): void {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
}
