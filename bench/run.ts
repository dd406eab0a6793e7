/**
 * `npm run bench -- <suite> [...]`: runs bench/<suite>.ts (every suite when none is named).
 * Each suite prints its own side-by-side table with ratios against a baseline of the same run.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineSummary } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'lib.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!available.includes(name)) {
    process.stderr.write(`unknown bench suite "${name}"; available: ${available.join(', ')}\n`);
    process.exit(2);
  }
}
process.stdout.write(`machine: ${machineSummary()}\n`);
for (const name of wanted.length > 0 ? wanted : available) {
  process.stdout.write(`\n=== bench ${name} ===\n`);
  const suite = (await import(join(here, `${name}.ts`))) as { run(): Promise<void> };
  await suite.run();
}
process.exit(0);
