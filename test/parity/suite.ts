/**
 * Runs parity cases and sums them up: status+shape match %, exact error text match %, per area and
 * per group (admin, node, router, plugin). Deliberate differences are run and listed, not counted.
 */
import type { CaseResult, ParityCase } from './types.js';
import { runCase, type RunEnv } from './run-case.js';
import { CASE_FILES } from './cases/index.js';

export interface CaseFile {
  /** `admin/routes`, `plugin/key-auth`, `node/upstream`…: the first segment is the group. */
  area: string;
  cases: ParityCase[];
}

export interface Selection {
  /** Run only areas starting with this. */
  area?: string;
  /** Run only cases whose src or name contains this. */
  grep?: string;
}

export function selectCases(selection: Selection = {}): { area: string; c: ParityCase }[] {
  return CASE_FILES.flatMap((f) => f.cases.map((c) => ({ area: f.area, c })))
    .filter(({ area }) => !selection.area || area.startsWith(selection.area))
    .filter(({ c }) => !selection.grep || c.src.includes(selection.grep) || c.name.includes(selection.grep));
}

export async function runCases(
  cases: { area: string; c: ParityCase }[],
  env: RunEnv,
  concurrency = 2,
  onResult: (r: CaseResult) => void = () => {},
): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCase(cases[i].area, cases[i].c, env);
      onResult(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return results;
}

export interface Tally {
  name: string;
  /** Cases counted (deliberate differences excluded). */
  cases: number;
  ok: number;
  textCases: number;
  textOk: number;
  deliberate: number;
  planned: number;
}

const pct = (n: number, d: number) => (d === 0 ? '  -  ' : `${((100 * n) / d).toFixed(1)}%`);

export function tally(name: string, results: CaseResult[]): Tally {
  const counted = results.filter((r) => !r.deliberate);
  return {
    name,
    cases: counted.length,
    ok: counted.filter((r) => r.ok).length,
    textCases: counted.filter((r) => r.textOk !== undefined).length,
    textOk: counted.filter((r) => r.textOk).length,
    deliberate: results.length - counted.length,
    planned: counted.filter((r) => r.planned).length,
  };
}

export function statusShapePercent(results: CaseResult[]): number {
  const t = tally('all', results);
  return t.cases === 0 ? 0 : (100 * t.ok) / t.cases;
}

function row(t: Tally): string {
  return [
    t.name.padEnd(28),
    String(t.cases).padStart(5),
    `${String(t.ok).padStart(4)} ${pct(t.ok, t.cases).padStart(6)}`,
    `${String(t.textOk).padStart(4)}/${String(t.textCases).padEnd(4)} ${pct(t.textOk, t.textCases).padStart(6)}`,
    String(t.planned).padStart(7),
    String(t.deliberate).padStart(10),
  ].join('  ');
}

export function formatReport(results: CaseResult[], details = false): string {
  const out: string[] = [];
  const header = ['area'.padEnd(28), 'cases'.padStart(5), 'status+shape'.padStart(11), 'exact error text'.padStart(17), 'planned', 'deliberate'].join('  ');
  const group = (key: (r: CaseResult) => string) => {
    const names = [...new Set(results.map(key))].sort();
    return names.map((n) => row(tally(n, results.filter((r) => key(r) === n))));
  };
  out.push(header, '-'.repeat(header.length));
  out.push(...group((r) => r.area));
  out.push('-'.repeat(header.length));
  out.push(...group((r) => r.area.split('/')[0]));
  out.push('-'.repeat(header.length));
  out.push(row(tally('TOTAL', results)));
  const failing = results.filter((r) => !r.ok && !r.deliberate);
  out.push('', `failing (${failing.length}):`);
  for (const r of failing) {
    out.push(`  ${r.src}  ${r.name}${r.planned ? `  [planned: ${r.planned}]` : ''}`);
    if (details) for (const f of r.failures) out.push(`      step ${f.step}: expected ${f.expected}\n               got ${f.actual}`);
  }
  const deliberate = results.filter((r) => r.deliberate);
  out.push('', `deliberate differences (${deliberate.length}, not counted):`);
  for (const r of deliberate) out.push(`  ${r.src}  ${r.name} — ${r.deliberate} (${r.ok ? 'now matches APISIX' : 'differs'})`);
  if (details) {
    const textFailing = results.filter((r) => r.textOk === false && !r.deliberate);
    out.push('', `error texts that differ (${textFailing.length}):`);
    for (const r of textFailing) for (const f of r.textFailures) out.push(`  ${r.src} step ${f.step}: ${f.actual}`);
  }
  return out.join('\n');
}
