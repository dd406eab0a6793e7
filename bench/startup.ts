/**
 * `npm run bench -- startup [--rev <commit>]`: how long `tollgate start` takes from spawn to its
 * banner (every listener up), and the CPU time the process used to get there, for each build.
 * Each round starts every build once, in turn, on an empty embedded catalog; the table shows
 * medians over `BENCH_ROUNDS` rounds (default 9). CPU time moves much less than wall time
 * with the machine's other work: compare builds by it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMicros, launched, median, printTable, startGateway, type Row } from './lib.js';
import type { Build } from './revision.js';

export const comparesBuilds = true;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

export async function run(builds: Build[]): Promise<void> {
  const results = new Map<string, { wall: number[]; cpu: number[] }>(builds.map((b) => [b.label, { wall: [], cpu: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const build of builds) {
      const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-startup-'));
      try {
        const started = performance.now();
        const gateway = await startGateway(build, { env: { TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: 'bench-startup-admin-key-0123456789' } });
        const wall = performance.now() - started;
        const cpu = cpuMicros(gateway.pid) / 1000;
        const child = launched.find((c) => c.pid === gateway.pid)!;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
        results.get(build.label)!.wall.push(wall);
        results.get(build.label)!.cpu.push(cpu);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  const base = results.get(builds[0].label)!;
  const rows: Row[] = builds.map((build) => {
    const { wall, cpu } = results.get(build.label)!;
    const row: Row = { name: build.label, 'start ms (median)': median(wall), 'CPU ms (median)': median(cpu), 'CPU ms (min–max)': `${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}` };
    if (build !== builds[0]) row['CPU / this tree'] = `${((median(cpu) / median(base.cpu)) * 100).toFixed(0)}%`;
    return row;
  });
  const columns = ['start ms (median)', 'CPU ms (median)', 'CPU ms (min–max)', ...(builds.length > 1 ? ['CPU / this tree'] : [])];
  printTable(`tollgate start, spawn to banner, ${ROUNDS} rounds`, rows, columns);
}

