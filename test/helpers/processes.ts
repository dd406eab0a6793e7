/**
 * Process bookkeeping for leak checks: the descendants of this test process, read from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  command: string;
}

export function listProcesses(): ProcessInfo[] {
  return withCommands(liveProcesses());
}

/**
 * Every live process without its command line: reading another process's cmdline costs about
 * three times its stat, and the leak checks scan before and after every test.
 */
function liveProcesses(): Array<Omit<ProcessInfo, 'command'>> {
  const out: Array<Omit<ProcessInfo, 'command'>> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command (which may contain spaces) start after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue;
      out.push({ pid: Number(entry), ppid: Number(rest[1]), pgid: Number(rest[2]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

function withCommands(processes: Array<Omit<ProcessInfo, 'command'>>): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const p of processes) {
    try {
      out.push({ ...p, command: readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** Every live descendant of `root` (default: this process). */
export function descendants(root = process.pid): ProcessInfo[] {
  const all = liveProcesses();
  const found: Array<Omit<ProcessInfo, 'command'>> = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of all) {
      if (p.ppid === parent) {
        found.push(p);
        frontier.push(p.pid);
      }
    }
  }
  return withCommands(found);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}

/**
 * Processes a test starts on purpose for its whole `describe` (a restarted Redis, a replaced
 * gateway): the per-test leak check skips them; the end-of-run check still requires them gone.
 */
export const adopted = new Set<number>();

export function adopt(pid: number | undefined): void {
  if (pid !== undefined) adopted.add(pid);
}
