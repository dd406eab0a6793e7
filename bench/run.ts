/**
 * `npm run bench -- <suite> [...] [--rev <commit>]`: runs bench/<suite>.ts (every suite when none
 * is named). Each suite prints its own side-by-side table with ratios against a baseline of the
 * same run. With `--rev`, the suites that compare builds also run that revision's gateway as a
 * contender next to this tree's, in the same rounds (bench/revision.ts).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launched, machineSummary } from './lib.js';
import { currentBuild, revisionBuild, type Build } from './revision.js';

interface Suite {
  run(builds: Build[]): Promise<void>;
  /** Suites that run every build given; the others refuse `--rev`. */
  comparesBuilds?: boolean;
  /** The suite that runs this one as its part: a run of every suite runs it once, there. */
  includedIn?: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'lib.ts', 'revision.ts', 'callgrind-js.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));

const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(2);
};
const args = process.argv.slice(2);
let rev: string | undefined;
const wanted: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rev') rev = args[++i] ?? fail('--rev needs a commit');
  else if (args[i].startsWith('--rev=')) rev = args[i].slice('--rev='.length);
  else wanted.push(args[i]);
}
for (const name of wanted) {
  if (!available.includes(name)) fail(`unknown bench suite "${name}"; available: ${available.join(', ')}`);
}
const suites = new Map<string, Suite>();
for (const name of wanted.length > 0 ? wanted : available) suites.set(name, (await import(join(here, `${name}.ts`))) as Suite);
for (const [name, suite] of suites) if (suite.includedIn !== undefined && suites.has(suite.includedIn)) suites.delete(name);
if (rev !== undefined) {
  const single = [...suites].filter(([, suite]) => !suite.comparesBuilds).map(([name]) => name);
  if (single.length > 0) fail(`--rev: ${single.join(', ')} cannot compare builds; name the suites that can`);
}

// An interrupted run ends its contenders too (a gateway under valgrind would run on for minutes).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of launched) if (child.exitCode === null) child.kill('SIGKILL');
    process.exit(130);
  });
}
process.stdout.write(`machine: ${machineSummary()}\n`);
const builds = [currentBuild(root)];
if (rev !== undefined) builds.push(revisionBuild(root, rev));
for (const [name, suite] of suites) {
  process.stdout.write(`\n=== bench ${name} ===\n`);
  await suite.run(builds);
}
process.exit(0);
