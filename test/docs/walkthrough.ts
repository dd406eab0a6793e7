/**
 * Runs the shell walkthroughs of the documentation with real bash and real curl against a real
 * gateway, so that a page's commands, and the outcomes its comments promise, cannot drift from
 * what the gateway does.
 *
 * What a page promises, and how a page says it (README.md, docs/getting-started.md,
 * docs/plugin-development.md):
 * - Blocks fenced as ```sh are walkthrough steps. They run in page order in one bash process, so
 *   shell variables carry over from block to block. Other blocks (```, ```json, ```ts …) do not run.
 * - `npm …` and `npx mocha …` commands do not run: the test does what they do its own way (it
 *   starts the gateway as `npm start` does; it runs the plugin's test file itself).
 * - A command may end with a comment stating its outcome; the test holds the command to it:
 *     `# 401 …`                           the HTTP status of the command's (last) curl
 *     `X-RateLimit-Remaining: 1`          a response header (a hyphenated name); `…` as the value: present
 *     `` `"loaded":["tenant-gate"]` ``    text the response body contains (`…` inside matches anything)
 *   Every other word of the comment is prose. A curl without a stated status must answer 2xx, and
 *   every command must exit 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Expectation {
  status?: number;
  /** Lower-case header name → value, or undefined for "present". */
  headers: Array<[string, string | undefined]>;
  /** Body snippets; each is a list of pieces that must appear in order (`…` split them). */
  body: string[][];
}

export interface Command {
  /** The command as the page shows it, continuation lines joined. */
  code: string;
  comment: string;
  expect: Expectation;
}

export interface StepResult {
  command: Command;
  /** The command as run (after substitutions). */
  ran: string;
  exitCode: number;
  /** HTTP status of the last curl of the command, if it ran one. */
  status?: number;
  /** Lower-case names, from the last curl of the command. */
  headers: Map<string, string>;
  /** What the command printed (curl's body, with headers when it used -i). */
  output: string;
}

/** The fenced blocks of a markdown text, with their info string (`sh`, `ts`, ''). */
export function fencedBlocks(markdown: string): Array<{ lang: string; text: string }> {
  const blocks: Array<{ lang: string; text: string }> = [];
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    const fence = /^```(\S*)\s*$/.exec(line);
    if (!open && fence) open = { lang: fence[1], lines: [] };
    else if (open && /^```\s*$/.test(line)) {
      blocks.push({ lang: open.lang, text: open.lines.join('\n') });
      open = undefined;
    } else if (open) open.lines.push(line);
  }
  return blocks;
}

/**
 * Splits a shell block into commands the way bash reads it: a newline ends a command unless it is
 * escaped or inside quotes; `#` at the start of a word starts a comment. Comment-only lines are prose.
 */
export function splitCommands(block: string): Command[] {
  const commands: Command[] = [];
  let code = '';
  let comment = '';
  let quote: '"' | "'" | undefined;
  const flush = () => {
    if (code.trim()) commands.push({ code: code.trim(), comment, expect: expectationOf(comment) });
    code = '';
    comment = '';
  };
  for (let i = 0; i < block.length; i++) {
    const c = block[i];
    if (quote) {
      code += c;
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < block.length) code += block[++i];
      continue;
    }
    if (c === '\\' && block[i + 1] === '\n') {
      code += ' ';
      i += 1;
    } else if (c === '\\') {
      code += c + (block[++i] ?? '');
    } else if (c === "'" || c === '"') {
      quote = c;
      code += c;
    } else if (c === '#' && (code === '' || /\s$/.test(code))) {
      const end = block.indexOf('\n', i);
      const stop = end < 0 ? block.length : end;
      comment = block.slice(i + 1, stop).trim();
      i = stop - 1;
    } else if (c === '\n') {
      flush();
    } else {
      code += c;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in shell block:\n${block}`);
  flush();
  return commands;
}

/** Reads what a command's trailing comment promises (see the file header). */
export function expectationOf(comment: string): Expectation {
  const status = /^(\d{3})\b/.exec(comment);
  const headers: Expectation['headers'] = [];
  const body: string[][] = [];
  const withoutSnippets = comment.replace(/`([^`]+)`/g, (_m, snippet: string) => {
    body.push(snippet.split('…').filter(Boolean));
    return ' ';
  });
  for (const m of withoutSnippets.matchAll(/\b([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+): ([^,\s]+)/g)) {
    headers.push([m[1].toLowerCase(), m[2] === '…' ? undefined : m[2]]);
  }
  return { status: status ? Number(status[1]) : undefined, headers, body };
}

/** The ```sh commands of a page, in order, without the ones the test performs itself. */
export function walkthroughOf(markdown: string): Command[] {
  return fencedBlocks(markdown)
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => splitCommands(b.text))
    .filter((c) => !/^(npm |npx mocha )/.test(c.code));
}

export interface RunOptions {
  cwd: string;
  /** Extra environment (PATH and HOME are passed through). */
  env?: Record<string, string>;
  /** Applied to every command before it runs: the page's default addresses → the test's. */
  substitutions: Array<[string, string]>;
  /** Shell to run after a command (not asserted): the steps a reader does in an editor. */
  after?(command: Command): string | undefined;
  timeoutMs?: number;
}

const MARK = '@@doc-test';

/** Runs `commands` in one bash process; resolves with one result per command. */
export async function runWalkthrough(commands: readonly Command[], options: RunOptions): Promise<StepResult[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'tollgate-doc-test-'));
  const ran = commands.map((c) => options.substitutions.reduce((text, [from, to]) => text.replaceAll(from, to), c.code));
  const lines = [
    'set -u',
    'doc_step=0',
    // Every curl of the page reports its status and keeps its response headers, whatever its flags.
    `curl() { command curl -sS --max-time 30 -D "${scratch}/headers.$doc_step" -w '\\n${MARK} status=%{http_code}@@\\n' "$@"; }`,
  ];
  ran.forEach((code, i) => {
    lines.push(`doc_step=${i}; printf '\\n${MARK} begin ${i}@@\\n'`);
    lines.push(code);
    lines.push(`printf '\\n${MARK} end ${i} exit=%s@@\\n' "$?"`);
    const extra = options.after?.(commands[i]);
    if (extra) lines.push(extra);
  });
  try {
    const { stdout, stderr, code } = await bash(lines.join('\n'), options);
    if (code !== 0) throw new Error(`walkthrough shell exited with ${code}:\n${stderr}`);
    return commands.map((command, i) => {
      const segment = new RegExp(`${MARK} begin ${i}@@\\n([\\s\\S]*?)\\n${MARK} end ${i} exit=(\\d+)@@`).exec(stdout);
      if (!segment) throw new Error(`step ${i} (${ran[i]}) did not run:\n${stdout}\n${stderr}`);
      const statuses = [...segment[1].matchAll(new RegExp(`${MARK} status=(\\d{3})@@`, 'g'))].map((m) => Number(m[1]));
      const headerFile = join(scratch, `headers.${i}`);
      return {
        command,
        ran: ran[i],
        exitCode: Number(segment[2]),
        status: statuses.length > 0 ? statuses[statuses.length - 1] : undefined,
        headers: existsSync(headerFile) ? parseHeaders(readFileSync(headerFile, 'utf8')) : new Map(),
        output: segment[1].replace(new RegExp(`\\n?${MARK} status=\\d{3}@@\\n?`, 'g'), '\n').trim(),
      };
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The last header block curl dumped (after any 100 Continue). */
function parseHeaders(dump: string): Map<string, string> {
  const blocks = dump.split(/\r?\n\r?\n/).filter((b) => b.trim());
  const headers = new Map<string, string>();
  for (const line of (blocks[blocks.length - 1] ?? '').split(/\r?\n/).slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function bash(script: string, options: RunOptions): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

/** Why a step broke its page's promise, or undefined when it kept it. */
export function brokenPromise(step: StepResult): string | undefined {
  const { expect, code } = step.command;
  const where = `\`${code}\` (ran as \`${step.ran}\`) printed:\n${step.output}\n`;
  if (step.exitCode !== 0) return `${where}and exited with ${step.exitCode}`;
  if (expect.status !== undefined && step.status !== expect.status) return `${where}status ${step.status}, the page says ${expect.status}`;
  if (expect.status === undefined && step.status !== undefined && (step.status < 200 || step.status > 299)) {
    return `${where}status ${step.status}; a curl without a stated status must answer 2xx`;
  }
  for (const [name, value] of expect.headers) {
    const got = step.headers.get(name);
    if (got === undefined) return `${where}no ${name} header, the page says it is there`;
    if (value !== undefined && got !== value) return `${where}${name}: ${got}, the page says ${value}`;
  }
  for (const pieces of expect.body) {
    let at = 0;
    for (const piece of pieces) {
      const found = step.output.indexOf(piece, at);
      if (found < 0) return `${where}it lacks ${JSON.stringify(piece)}, which the page promises`;
      at = found + piece.length;
    }
  }
  return undefined;
}
