/**
 * The second line behind the reaper (issue 10, item 18): each gateway records its children's
 * process groups in `<data_dir>/mcp-children/`, and a starting gateway stops what a dead one left
 * behind — for when the reaper died with its gateway (a SIGKILL to the whole process group, an
 * OOM kill of both).
 *
 * Nothing unrelated may be killed, however long ago the record was written: a record names the
 * group leader's pid, its start time (clock ticks since boot) and command line, and the boot it
 * belongs to. A group is stopped only when its leader is that very process (same start time and
 * command), or when the leader is gone but processes of its group remain: Linux never hands out a
 * pid that is still some process group's id, so those are the original group's members.
 * Records are read and checked through /proc, so this runs on Linux only (elsewhere the reaper
 * alone stands).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../../../core/logger.js';

interface Identity {
  /** Start time, clock ticks after boot (/proc/<pid>/stat field 22). */
  start: number;
  pgid: number;
  command: string;
}

interface ChildEntry {
  pgid: number;
  start: number;
  command: string;
}

interface RecordFile {
  owner: { pid: number; start: number };
  boot: string;
  children: ChildEntry[];
}

const SUPPORTED = process.platform === 'linux';

/**
 * This gateway's record of its live children, rewritten (atomically) once per tick that changed
 * it. Nothing is written, not even the directory, until the first child.
 */
export class ChildRecord {
  private file?: string;
  private unusable = !SUPPORTED;
  private readonly children = new Map<number, ChildEntry>();
  private owner?: { pid: number; start: number };
  private boot = '';
  private pending?: NodeJS.Immediate;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  private open(): boolean {
    if (this.file) return true;
    if (this.unusable) return false;
    const self = identityOf(process.pid);
    try {
      if (!self) throw new Error('/proc/self/stat is not readable');
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      this.unusable = true;
      this.logger.warn({ err, dir: this.dir }, 'mcp: cannot record children in the data dir; what a killed gateway leaves will not be stopped at the next start');
      return false;
    }
    this.owner = { pid: process.pid, start: self.start };
    this.boot = bootId();
    this.file = join(this.dir, `${process.pid}-${randomBytes(4).toString('hex')}.json`);
    return true;
  }

  add(pid: number): void {
    if (!this.open()) return;
    const identity = identityOf(pid);
    // Gone already (it failed at once): nothing to record.
    if (!identity) return;
    this.children.set(pid, { pgid: pid, start: identity.start, command: identity.command });
    this.schedule();
  }

  remove(pid: number): void {
    if (this.children.delete(pid)) this.schedule();
  }

  /** The gateway stopped its children itself: no record is left. */
  close(): void {
    clearImmediate(this.pending);
    this.pending = undefined;
    if (this.file) removeFile(this.file);
  }

  private schedule(): void {
    this.pending ??= setImmediate(() => {
      this.pending = undefined;
      this.write();
    });
  }

  private write(): void {
    const record: RecordFile = { owner: this.owner!, boot: this.boot, children: [...this.children.values()] };
    try {
      writeFileSync(`${this.file}.tmp`, JSON.stringify(record));
      renameSync(`${this.file}.tmp`, this.file!);
    } catch (err) {
      this.logger.warn({ err, file: this.file }, 'mcp: cannot record children');
    }
  }
}

/**
 * Stops the children that gateways no longer running left behind in `dir`: SIGTERM to each group
 * still verifiably theirs, then SIGKILL after `termWaitMs`. Records of live gateways are left
 * alone (several gateways may share a data dir).
 */
export async function stopLeftovers(dir: string, termWaitMs: number, logger: Logger): Promise<void> {
  if (!SUPPORTED) return;
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    return;
  }
  const boot = bootId();
  const groups: ChildEntry[] = [];
  for (const name of names) {
    const file = join(dir, name);
    let record: RecordFile;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as RecordFile;
    } catch {
      removeFile(file);
      continue;
    }
    if (record.boot === boot && identityOf(record.owner?.pid)?.start === record.owner?.start) continue;
    if (record.boot === boot) groups.push(...(record.children ?? []).filter(isOurs));
    removeFile(file);
  }
  if (groups.length === 0) return;
  logger.warn({ groups: groups.map((g) => ({ pgid: g.pgid, command: g.command.slice(0, 200) })) }, 'mcp: stopping servers a gateway that died left running');
  for (const group of groups) signalGroup(group.pgid, 'SIGTERM');
  const deadline = Date.now() + termWaitMs;
  while (Date.now() < deadline && groups.some(isOurs)) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const group of groups.filter(isOurs)) signalGroup(group.pgid, 'SIGKILL');
}

/** Whether the process group `entry` recorded is still that group (see the file header). */
function isOurs(entry: ChildEntry): boolean {
  if (!Number.isInteger(entry.pgid) || entry.pgid <= 1) return false;
  const leader = identityOf(entry.pgid);
  if (leader) return leader.start === entry.start && leader.command === entry.command && leader.pgid === entry.pgid;
  return groupMembers(entry.pgid).some((member) => member.start >= entry.start);
}

/** A record that cannot be removed (a read-only data dir) is read again next time: no harm. */
function removeFile(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // See above.
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: gone meanwhile.
  }
}

function identityOf(pid: number | undefined): Identity | undefined {
  if (!Number.isInteger(pid) || pid! <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces and parentheses) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return { start: Number(fields[19]), pgid: Number(fields[2]), command };
  } catch {
    return undefined;
  }
}

function groupMembers(pgid: number): Identity[] {
  const members: Identity[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const identity = identityOf(Number(entry));
    if (identity?.pgid === pgid) members.push(identity);
  }
  return members;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
