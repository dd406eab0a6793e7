/**
 * Reads the dumps `BENCH_INSTR_PROFILE=<dir> npm run bench -- instructions` keeps, and says where
 * the instructions went, per request: by JavaScript function (callgrind sees V8's JIT code only
 * as addresses; V8's code map names them) and by part (a source file, V8's builtins, its
 * compiler, its garbage collector, Node's C++, libc). Given two dumps, it prints both side by side
 * with the difference, largest first: which code a change made more expensive.
 *
 *   node --import tsx bench/callgrind-js.ts <dir>/<name> [<dir>/<other name>] [--requests 1000] [--top 40]
 *
 * <name> is a dump's path without `.callgrind` / `.map`; --requests is the number counted in the
 * window (BENCH_INSTR_REQUESTS; a quarter of it for the MCP scenario).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface Profile {
  functions: Map<string, number>;
  parts: Map<string, number>;
  total: number;
}

interface CodeRange {
  start: number;
  end: number;
  name: string;
}

function codeMap(path: string): CodeRange[] {
  const ranges: CodeRange[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (!match) continue;
    const start = parseInt(match[1], 16);
    // "JS:*name file:line:col": the tier mark (* optimised, ^ baseline, ~ interpreted, + maglev) is dropped.
    // Paths shortened to node_modules/… and dist/…, line numbers dropped: the same function is
    // then one key in two builds from different directories, whatever lines moved.
    const name = match[3]
      .replace(/^JS:[*^~+]?/, '')
      .replace(/(?:file:\/\/)?\/\S*?\/(node_modules|dist)\//, '$1/')
      .replace(/(:\d+)+$/, '');
    ranges.push({ start, end: start + parseInt(match[2], 16), name: name.startsWith(' ') ? `(anonymous)${name}` : name });
  }
  // Code freed and allocated again at the same address: the later entry is the one that ran last.
  return ranges.reverse();
}

function partOf(file: string, fn: string, object: string): string {
  if (fn.startsWith('Builtins_')) return 'V8 builtins';
  if (/v8::internal::(compiler|maglev|baseline)|Turbofan|Maglev/.test(fn)) return COMPILERS;
  if (/Scaveng|Heap|MarkCompact|Marking|Sweep|Evacuat|Collector|Mark[A-Z]|GC|Remembered/.test(fn)) return GARBAGE_COLLECTOR;
  if (fn.startsWith('v8::')) return 'V8 runtime';
  if (fn.startsWith('node::') || fn.startsWith('uv_') || fn.includes('llhttp')) return 'Node C++, libuv, llhttp';
  if (/libc\.so|libstdc\+\+|ld-linux/.test(object)) return 'libc, libstdc++';
  return object === '???' ? `${file}` : object;
}

/** Parts that bench/instructions.ts keeps out of its figure: V8 optimising code, a warm-up cost that comes and goes. */
export const COMPILERS = 'V8 compilers';
export const GARBAGE_COLLECTOR = 'V8 garbage collector';

/** Self instructions of a callgrind dump by function and by part; JIT code is named when `<name>.map` exists. */
export function loadProfile(dump: string, map?: string): Profile {
  const ranges = map && existsSync(map) ? codeMap(map) : [];
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', dump], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const functions = new Map<string, number>();
  const parts = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n);
  for (const line of annotated.split('\n')) {
    const totals = /^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/.exec(line);
    if (totals) total = Number(totals[1].replaceAll(',', ''));
    const match = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+([^:]*):(.*)\s+\[(.*)\]$/.exec(line);
    if (!match) continue;
    const n = Number(match[1].replaceAll(',', ''));
    let fn = match[3].trim();
    let part: string;
    if (/^0x[0-9a-f]+$/.test(fn)) {
      const address = parseInt(fn, 16);
      const range = ranges.find((r) => address >= r.start && address < r.end);
      fn = range ? range.name : 'JIT code without a name';
      // "name file": the part is the file.
      part = range ? `JS ${/ (\S+)$/.exec(range.name)?.[1] ?? '?'}` : 'JIT code without a name';
    } else {
      part = partOf(match[2], fn, match[4]);
    }
    add(functions, fn, n);
    add(parts, part, n);
  }
  return { functions, parts, total };
}

function main(): void {
  const args = process.argv.slice(2);
  const option = (flag: string, fallback: number) => {
    const i = args.indexOf(flag);
    if (i < 0) return fallback;
    const value = Number(args[i + 1]);
    args.splice(i, 2);
    return value;
  };
  const requests = option('--requests', 1000);
  const top = option('--top', 40);
  const [first, second] = args.map((name) => loadProfile(`${name}.callgrind`, `${name}.map`));
  const perRequest = (n: number) => (n / requests / 1000).toFixed(2).padStart(9);

  const table = (title: string, a: Map<string, number>, b?: Map<string, number>) => {
    process.stdout.write(`\n${title} (thousand instructions per request${b ? ': first, second, second − first' : ''})\n`);
    const keys = new Set([...a.keys(), ...(b?.keys() ?? [])]);
    const rows = [...keys].map((k) => ({ k, a: a.get(k) ?? 0, b: b?.get(k) ?? 0 }));
    rows.sort((x, y) => (b ? Math.abs(y.b - y.a) - Math.abs(x.b - x.a) : y.a - x.a));
    for (const row of rows.slice(0, top)) {
      process.stdout.write(`${perRequest(row.a)}${b ? `${perRequest(row.b)}${perRequest(row.b - row.a)}` : ''}  ${row.k}\n`);
    }
  };

  process.stdout.write(`total:${perRequest(first.total)}${second ? `${perRequest(second.total)}${perRequest(second.total - first.total)}` : ''}\n`);
  table('By part', first.parts, second?.parts);
  table('By function', first.functions, second?.functions);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
