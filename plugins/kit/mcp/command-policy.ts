/**
 * mcp.allowed_commands: which command lines mcp-bridge may start (issue 10, item 20).
 *
 * An entry is a command, optionally followed by the leading arguments it must be given, separated
 * by spaces: `node` allows node with any script; `npx -y @modelcontextprotocol/` allows npx only
 * as `npx -y @modelcontextprotocol/<package> …`. Pinned arguments match exactly, except that one
 * ending in `/` matches anything under it (without `..` segments), one ending in `*` anything it
 * starts with, and a package name also matches it with a version (`name@1.2.3`).
 *
 * Whatever the entry, the arguments it does not pin may not make an interpreter run code that is
 * not a file on disk (interpreters.ts): `node -e`, `python3 -c`, `bash -c`, `npx -c`, a program
 * read from stdin. An entry that pins such an option (`python3 -m mcp_server_fetch`) allows it.
 * The route's env may not load code either (LD_PRELOAD, NODE_OPTIONS=--require…).
 */
import { envProblem, evalArgument } from './interpreters.js';

export interface CommandLine {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Why a command line may not run: the field at fault (`command`, `args[2]`, `env.X`) and the reason. */
export interface CommandRefusal {
  readonly field: string;
  readonly reason: string;
}

interface Entry {
  readonly text: string;
  readonly command: string;
  readonly pinned: readonly string[];
}

function parseEntry(text: string): Entry {
  const [command, ...pinned] = text.trim().split(/\s+/);
  return { text: text.trim(), command, pinned };
}

function pinMatches(pin: string, arg: string): boolean {
  if (arg === pin || arg.startsWith(`${pin}@`)) return true;
  if (pin.endsWith('*')) return arg.startsWith(pin.slice(0, -1));
  if (pin.endsWith('/')) return arg.startsWith(pin) && !arg.split(/[/\\]/).some((segment) => segment === '..' || segment === '.');
  return false;
}

/** Undefined when `line` may run under `allowed`; otherwise what is wrong, naming the field. */
export function commandRefusal(line: CommandLine, allowed: readonly string[]): CommandRefusal | undefined {
  const entries = allowed.map(parseEntry).filter((entry) => entry.command === line.command);
  if (entries.length === 0) {
    return { field: 'command', reason: `command "${line.command}" is not in mcp.allowed_commands (${allowed.join(', ') || 'empty'})` };
  }
  for (const [name, value] of Object.entries(line.env)) {
    const why = envProblem(name, value);
    if (why) return { field: `env.${name}`, reason: `${why}; not allowed in an MCP server's environment` };
  }
  let refusal: CommandRefusal | undefined;
  for (const entry of entries) {
    if (entry.pinned.length > line.args.length || !entry.pinned.every((pin, i) => pinMatches(pin, line.args[i]))) continue;
    const found = evalArgument(line.command, line.args, entry.pinned.length);
    if (!found) return undefined;
    const field = found.index < line.args.length ? `args[${found.index}]` : 'args';
    const suggested = found.pin && [line.command, ...line.args.slice(0, found.index), found.pin].join(' ');
    const remedy = suggested ? `; allowed only by an mcp.allowed_commands entry that names it ("${suggested}")` : '';
    refusal ??= { field, reason: `${found.why}${remedy}` };
  }
  return (
    refusal ?? {
      field: 'args',
      reason: `the arguments of "${line.command}" do not start as mcp.allowed_commands requires (${entries.map((e) => `"${e.text}"`).join(', ')})`,
    }
  );
}
