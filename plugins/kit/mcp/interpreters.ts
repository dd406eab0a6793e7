/**
 * Which command lines of well-known interpreters and launchers run code that is not a file on
 * disk (issue 10, item 20): `node -e <code>`, `python3 -c`, `bash -c`, `npx -c`, `deno eval`, a
 * program read from standard input (which, for an MCP child, carries the client's messages), an
 * inspector port, a preloaded module. Allowing `node` must not allow `node -e <anything>`.
 *
 * Options are read the way each program reads them, up to its program (a script, a module, a
 * package): what follows belongs to the program (`node server.js -p 8080` is a port). An option
 * not known to take no value may take the next argument, so scanning goes on past it rather
 * than risk mistaking that value for the program: when unsure, refuse.
 */

export interface ArgProblem {
  /** Index in args of the offending argument (args.length: a missing script). */
  readonly index: number;
  readonly why: string;
  /** The leading arguments an allow-list entry would pin to allow it (`-e`, `-m <module>`), if any can. */
  readonly pin?: string;
}

/**
 * An option that runs code not on disk: why, whether it takes a value (the code, a module), and
 * whether the program starts there (`-e code`, `-m module`: what follows belongs to it).
 */
interface EvalOption {
  readonly why: string;
  readonly value?: boolean;
  readonly ends?: boolean;
}

/** How one program reads its options. */
interface Syntax {
  /** Long options that run code (or open a debugger). */
  readonly evalLong: ReadonlyMap<string, EvalOption>;
  /** Short option letters that run code. */
  readonly evalShort: ReadonlyMap<string, EvalOption>;
  /** Long options whose value is the next argument unless given with `=`. */
  readonly valueLong: ReadonlySet<string>;
  /** Short letters taking a value: the rest of the cluster, else the next argument. */
  readonly valueShort: ReadonlySet<string>;
  /** Long options known to take no value. */
  readonly isBoolean: (name: string) => boolean;
  /** Without a program argument, the program is read from standard input. */
  readonly programFromStdin: boolean;
  /** What the first positional argument is: the program (scan ends) or a command to scan in turn. */
  readonly positional: 'program' | 'command' | ((arg: string, index: number) => Positional);
}

type Positional =
  | { kind: 'program' }
  | { kind: 'problem'; why: string }
  /** A command to run, held to its own program's rules (npx's package, env's program). */
  | { kind: 'command' }
  /** A subcommand: options follow, then the program (`deno run`). */
  | { kind: 'options' }
  /** A subcommand after which the next positional is a command (`bun x`). */
  | { kind: 'then-command' };

const STDIN_PROGRAM = "reads its program from standard input, which carries the MCP client's messages";
const CODE = 'runs code given on the command line';
const DEBUGGER = 'opens a debugger that runs any code sent to it';
/** Runs the code or module that is its value; the rest of the command line belongs to it. */
const program = (why: string): EvalOption => ({ why, value: true, ends: true });
/** Loads the module that is its value before the program. */
const preload = (why: string): EvalOption => ({ why, value: true });
const flag = (why: string): EvalOption => ({ why });

const NODE: Syntax = {
  evalLong: new Map([
    ['--eval', program(CODE)],
    ['--print', program(CODE)],
    ['--require', preload('preloads a module before the program')],
    ['--import', preload('preloads a module before the program (a data: URL is code)')],
    ['--loader', preload('installs a module loader before the program')],
    ['--experimental-loader', preload('installs a module loader before the program')],
    ['--interactive', flag(STDIN_PROGRAM)],
    ['--inspect', flag(DEBUGGER)],
    ['--inspect-brk', flag(DEBUGGER)],
    ['--inspect-wait', flag(DEBUGGER)],
    ['--debug', flag(DEBUGGER)],
  ]),
  evalShort: new Map([
    ['e', program(CODE)],
    ['p', program(CODE)],
    ['r', preload('preloads a module before the program')],
    ['i', flag(STDIN_PROGRAM)],
  ]),
  valueLong: new Set(['--conditions', '--title', '--input-type', '--env-file', '--disable-warning', '--redirect-warnings', '--stack-trace-limit']),
  valueShort: new Set(['C']),
  isBoolean: (name) =>
    name.startsWith('--no-') ||
    name.startsWith('--experimental-') ||
    name.startsWith('--trace-') ||
    name.startsWith('--harmony') ||
    [
      '--expose-gc',
      '--enable-source-maps',
      '--throw-deprecation',
      '--pending-deprecation',
      '--preserve-symlinks',
      '--preserve-symlinks-main',
      '--abort-on-uncaught-exception',
      '--frozen-intrinsics',
      '--disallow-code-generation-from-strings',
      '--zero-fill-buffers',
      '--use-openssl-ca',
      '--use-bundled-ca',
      '--jitless',
      '--watch',
      '--version',
      '--help',
    ].includes(name),
  programFromStdin: true,
  positional: 'program',
};

const PYTHON: Syntax = {
  evalLong: new Map(),
  evalShort: new Map([
    ['c', program(CODE)],
    ['m', program('runs any installed module (`-m code` reads a program from standard input)')],
    ['i', flag(STDIN_PROGRAM)],
  ]),
  valueLong: new Set(['--check-hash-based-pycs']),
  valueShort: new Set(['W', 'X']),
  isBoolean: (name) => name === '--help' || name === '--version' || name === '--help-all' || name === '--help-env' || name === '--help-xoptions',
  programFromStdin: true,
  positional: 'program',
};

const SHELL: Syntax = {
  evalLong: new Map(),
  evalShort: new Map([
    ['c', program('runs commands given on the command line')],
    ['s', flag(STDIN_PROGRAM)],
    ['i', flag(STDIN_PROGRAM)],
  ]),
  valueLong: new Set(['--rcfile', '--init-file']),
  valueShort: new Set(['o', 'O']),
  isBoolean: () => true,
  programFromStdin: true,
  positional: 'program',
};

const PERL: Syntax = {
  evalLong: new Map(),
  evalShort: new Map([
    ['e', program(CODE)],
    ['E', program(CODE)],
    ['M', preload('pastes its module argument into code (-M"Mod;…")')],
    ['m', preload('pastes its module argument into code (-m"Mod;…")')],
    ['d', flag('runs the debugger, which reads commands from standard input')],
  ]),
  valueLong: new Set(),
  valueShort: new Set(['I', 'x', 'C', '0', 'l', 'D', 'V']),
  isBoolean: () => true,
  programFromStdin: true,
  positional: 'program',
};

const RUBY: Syntax = {
  evalLong: new Map(),
  evalShort: new Map([['e', program(CODE)]]),
  valueLong: new Set(),
  valueShort: new Set(['I', 'r', 'C', 'E', 'F', 'K', 'T', 'W', 'x', '0']),
  isBoolean: () => true,
  programFromStdin: true,
  positional: 'program',
};

const PHP: Syntax = {
  evalLong: new Map([
    ['--run', program(CODE)],
    ['--interactive', flag(STDIN_PROGRAM)],
    ['--define', preload('sets an ini value, and auto_prepend_file runs code')],
    ['--process-begin', program(CODE)],
    ['--process-code', program(CODE)],
    ['--process-end', program(CODE)],
  ]),
  evalShort: new Map([
    ['r', program(CODE)],
    ['a', flag(STDIN_PROGRAM)],
    ['d', preload('sets an ini value, and auto_prepend_file runs code')],
    ['B', program(CODE)],
    ['R', program(CODE)],
    ['E', program(CODE)],
  ]),
  valueLong: new Set(['--php-ini', '--file', '--zend-extension']),
  valueShort: new Set(['c', 'f', 'z', 'F', 'S', 't']),
  isBoolean: () => false,
  programFromStdin: true,
  positional: 'program',
};

/** npx / npm exec: options, then the package or command, whose own arguments follow. */
const NPX: Syntax = {
  evalLong: new Map([
    ['--call', program('runs a shell command given on the command line')],
    ['--node-options', preload('sets NODE_OPTIONS of what it runs (--require, --import…)')],
  ]),
  evalShort: new Map([['c', program('runs a shell command given on the command line')]]),
  valueLong: new Set(['--package', '--cache', '--registry', '--prefix', '--workspace', '--userconfig', '--loglevel']),
  valueShort: new Set(['p', 'w']),
  isBoolean: (name) =>
    ['--yes', '--no', '--quiet', '--silent', '--prefer-offline', '--prefer-online', '--offline', '--no-install', '--ignore-existing', '--legacy-peer-deps', '--include-workspace-root', '--workspaces'].includes(name) ||
    name.startsWith('--no-'),
  programFromStdin: false,
  positional: 'command',
};

/** uvx / uv tool run: options, then the tool, whose own arguments follow. */
const UVX: Syntax = {
  evalLong: new Map(),
  evalShort: new Map(),
  valueLong: new Set([
    '--from',
    '--with',
    '--with-editable',
    '--with-requirements',
    '--python',
    '--index',
    '--default-index',
    '--index-url',
    '--extra-index-url',
    '--find-links',
    '--constraints',
    '--overrides',
    '--build-constraints',
    '--cache-dir',
    '--directory',
    '--project',
    '--config-file',
    '--env-file',
    '--color',
    '--refresh-package',
    '--reinstall-package',
    '--upgrade-package',
  ]),
  valueShort: new Set(['p', 'c', 'f', 'i', 'w']),
  isBoolean: (name) =>
    name.startsWith('--no-') ||
    ['--isolated', '--offline', '--refresh', '--reinstall', '--upgrade', '--quiet', '--verbose', '--native-tls', '--all-extras', '--frozen', '--locked', '--exact', '--no-project', '--version', '--help'].includes(name),
  programFromStdin: false,
  positional: 'command',
};

/** deno: a subcommand first (`run`, `serve`…), then its script. */
const DENO: Syntax = {
  evalLong: new Map([
    ['--inspect', flag(DEBUGGER)],
    ['--inspect-brk', flag(DEBUGGER)],
    ['--inspect-wait', flag(DEBUGGER)],
  ]),
  evalShort: new Map(),
  valueLong: new Set(['--config', '--import-map', '--lock', '--cert', '--location', '--seed', '--v8-flags', '--reload', '--env-file', '--ext']),
  valueShort: new Set(['c', 'L']),
  isBoolean: (name) => name.startsWith('--allow-') || name.startsWith('--deny-') || name.startsWith('--no-') || name.startsWith('--unstable') || ['--quiet', '--check', '--cached-only', '--watch'].includes(name),
  programFromStdin: false,
  positional: (arg) => {
    if (arg === 'eval' || arg === 'repl') return { kind: 'problem', why: `deno ${arg} runs code that is not a file on disk` };
    if (['run', 'serve', 'test', 'task'].includes(arg)) return { kind: 'options' };
    return scriptArgument(arg);
  },
};

/** bun: `-e`/`-p`, `repl`, `x` (like npx), else a script. */
const BUN: Syntax = {
  evalLong: new Map([
    ['--eval', program(CODE)],
    ['--print', program(CODE)],
    ['--preload', preload('preloads a module before the program')],
    ['--inspect', flag(DEBUGGER)],
    ['--inspect-brk', flag(DEBUGGER)],
    ['--inspect-wait', flag(DEBUGGER)],
  ]),
  evalShort: new Map([
    ['e', program(CODE)],
    ['p', program(CODE)],
    ['r', preload('preloads a module before the program')],
  ]),
  valueLong: new Set(['--cwd', '--config', '--env-file', '--conditions', '--tsconfig-override', '--define', '--loader']),
  valueShort: new Set(['c', 'd', 'l']),
  isBoolean: (name) => name.startsWith('--no-') || ['--bun', '--hot', '--watch', '--smol', '--silent', '--version', '--help'].includes(name),
  programFromStdin: false,
  positional: (arg) => {
    if (arg === 'repl') return { kind: 'problem', why: 'bun repl runs code that is not a file on disk' };
    if (arg === 'x') return { kind: 'then-command' };
    if (arg === 'run') return { kind: 'options' };
    return scriptArgument(arg);
  },
};

/** env: NAME=value assignments (held to the same rules as a route's env), then a command. */
const ENV: Syntax = {
  evalLong: new Map([['--split-string', program('splits a string into a command line, hiding what runs')]]),
  evalShort: new Map([['S', program('splits a string into a command line, hiding what runs')]]),
  valueLong: new Set(['--unset', '--chdir']),
  valueShort: new Set(['u', 'C']),
  isBoolean: () => true,
  programFromStdin: false,
  positional: 'command',
};

/** The script a program runs: a file or URL on disk or the network, never inline code. */
function scriptArgument(arg: string): Positional {
  if (arg === '-') return { kind: 'problem', why: STDIN_PROGRAM };
  if (/^data:/i.test(arg)) return { kind: 'problem', why: 'a data: URL is inline code' };
  return { kind: 'program' };
}

/** The syntax of the program a command names (by file name, versions and paths aside). */
function syntaxOf(command: string): { syntax: Syntax; name: string } | undefined {
  const name = command.slice(command.lastIndexOf('/') + 1).replace(/@[^@/]*$/, '');
  const family = /^(node|nodejs)$/.test(name)
    ? NODE
    : /^python[0-9.]*$/.test(name) || name === 'pypy3' || name === 'pypy'
      ? PYTHON
      : /^(bash|sh|dash|zsh|ksh|mksh|ash|busybox)$/.test(name)
        ? SHELL
        : /^perl[0-9.]*$/.test(name)
          ? PERL
          : /^ruby[0-9.]*$/.test(name)
            ? RUBY
            : /^php[0-9.]*$/.test(name)
              ? PHP
              : name === 'npx' || name === 'bunx' || name === 'pnpx'
                ? NPX
                : name === 'uvx'
                  ? UVX
                  : name === 'deno'
                    ? DENO
                    : name === 'bun'
                      ? BUN
                      : name === 'env'
                        ? ENV
                        : undefined;
  return family ? { syntax: family, name } : undefined;
}

/**
 * The first argument that runs code not on disk, or undefined. Arguments before `pinned` were
 * allowed by an allow-list entry that names them, so they pass whatever they are.
 */
export function evalArgument(command: string, args: readonly string[], pinned = 0): ArgProblem | undefined {
  const name = command.slice(command.lastIndexOf('/') + 1);
  // npm exec / npm x and uv run / uv tool run behave as npx and uvx from their subcommand on.
  if (name === 'npm' && (args[0] === 'exec' || args[0] === 'x')) return scan(NPX, 'npx', args, 1, pinned);
  if (name === 'uv' && args[0] === 'run') return scan(UVX, 'uv run', args, 1, pinned);
  if (name === 'uv' && args[0] === 'tool' && args[1] === 'run') return scan(UVX, 'uvx', args, 2, pinned);
  const found = syntaxOf(command);
  return found ? scan(found.syntax, found.name, args, 0, pinned) : undefined;
}

function scan(syntax: Syntax, name: string, args: readonly string[], start: number, pinned: number): ArgProblem | undefined {
  const problem = (index: number, option: string, found: EvalOption): ArgProblem | undefined =>
    index < pinned ? undefined : { index, why: `${name}: ${option} ${found.why}`, pin: found.value && found.ends && option === '-m' ? '-m <module>' : option };
  let maybeValue = false;
  let commandNext = false;
  let options = true;
  // A pinned option that reads the program from stdin (`bash -s`) was allowed on purpose.
  let stdinAllowed = false;
  for (let i = start; i < args.length; i++) {
    const arg = args[i];
    if (options && arg === '--') {
      options = false;
      continue;
    }
    if (options && arg.startsWith('--')) {
      maybeValue = false;
      const eq = arg.indexOf('=');
      const option = eq < 0 ? arg : arg.slice(0, eq);
      const found = syntax.evalLong.get(option);
      if (found) {
        const refused = problem(i, option, found);
        if (refused) return refused;
        if (found.why === STDIN_PROGRAM) stdinAllowed = true;
        if (found.value && eq < 0) i += 1;
        if (found.ends) return undefined;
        continue;
      }
      if (eq >= 0) continue;
      if (syntax.valueLong.has(option)) i += 1;
      else if (!syntax.isBoolean(option)) maybeValue = true;
      continue;
    }
    if (options && arg.startsWith('-') && arg !== '-') {
      maybeValue = false;
      const letters = arg.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const letter = letters[j];
        const found = syntax.evalShort.get(letter);
        if (found) {
          const refused = problem(i, `-${letter}`, found);
          if (refused) return refused;
          if (found.why === STDIN_PROGRAM) stdinAllowed = true;
          if (!found.value) continue;
          // Its value is the rest of this argument, or the next one.
          if (j === letters.length - 1) i += 1;
          if (found.ends) return undefined;
          break;
        }
        if (syntax.valueShort.has(letter)) {
          if (j === letters.length - 1) i += 1;
          break;
        }
      }
      continue;
    }
    // A positional argument.
    if (maybeValue) {
      // Perhaps the value of the unknown option before it: the program may still come.
      maybeValue = false;
      continue;
    }
    if (syntax === ENV && /^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)) {
      const eq = arg.indexOf('=');
      const refused = envProblem(arg.slice(0, eq), arg.slice(eq + 1));
      if (refused && i >= pinned) return { index: i, why: `env: ${refused}` };
      continue;
    }
    const decided: Positional = commandNext
      ? { kind: 'command' }
      : syntax.positional === 'program'
        ? scriptArgument(arg)
        : syntax.positional === 'command'
          ? { kind: 'command' }
          : syntax.positional(arg, i);
    if (decided.kind === 'problem') return i < pinned ? undefined : { index: i, why: `${name}: ${decided.why}`, pin: arg === '-' || /^(eval|repl)$/.test(arg) ? arg : undefined };
    if (decided.kind === 'options' || decided.kind === 'then-command') {
      options = true;
      commandNext = decided.kind === 'then-command';
      continue;
    }
    if (decided.kind === 'program') return undefined;
    // A command (npx's package, uvx's tool, env's program): an interpreter is held to its own rules.
    const inner = syntaxOf(arg);
    return inner ? scan(inner.syntax, `${name} ${inner.name}`, args, i + 1, pinned) : undefined;
  }
  if (syntax.programFromStdin && !stdinAllowed && args.length >= pinned) {
    return { index: args.length, why: `${name}: without a script it ${STDIN_PROGRAM}` };
  }
  return undefined;
}

/** Environment variables that make a program load or run code other than its own. */
const CODE_LOADING_ENV = new Map([
  ['LD_PRELOAD', 'loads a library into every program'],
  ['LD_AUDIT', 'loads a library into every program'],
  ['DYLD_INSERT_LIBRARIES', 'loads a library into every program'],
  ['BASH_ENV', 'bash runs this file before its script'],
  ['ENV', 'sh runs this file before its script'],
  ['PYTHONINSPECT', `python then ${STDIN_PROGRAM}`],
  ['PYTHONSTARTUP', 'python runs this file when interactive'],
  ['PERL5OPT', 'adds perl options (-M pastes code)'],
  ['PERL5DB', 'perl runs this code as its debugger'],
  ['RUBYOPT', 'adds ruby options (-r loads code)'],
  ['NPM_CONFIG_CALL', 'npx runs this shell command'],
  ['NPM_CONFIG_ONLOAD_SCRIPT', 'npm runs this module on start'],
  ['NPM_CONFIG_SCRIPT_SHELL', 'npm runs scripts with this program'],
  ['NPM_CONFIG_SHELL', 'npm runs commands with this program'],
]);

/**
 * Why an environment variable of a child would make it run code other than its program, or
 * undefined. NODE_OPTIONS (and npm's node-options) may hold harmless flags such as
 * --max-old-space-size, so they are read with node's rules rather than refused outright.
 */
export function envProblem(name: string, value: string): string | undefined {
  const upper = name.toUpperCase();
  const why = CODE_LOADING_ENV.get(upper);
  if (why) return `${name} ${why}`;
  if (upper === 'NODE_OPTIONS' || upper === 'NPM_CONFIG_NODE_OPTIONS') {
    // Options only: a placeholder program ends the list, as node reads NODE_OPTIONS before argv.
    const found = scan(NODE, 'node', [...value.split(/\s+/).filter(Boolean), 'program.js'], 0, 0);
    if (found) return `${name}: ${found.why}`;
  }
  return undefined;
}
