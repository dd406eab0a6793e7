/**
 * APISIX's expression language (lua-resty-expr v1.3, what route `vars`, response-rewrite's `vars`
 * and traffic-split's `match[].vars` are written in), compiled once per config version into a tree
 * of closures that a request only walks.
 *
 * A rule is an array: `[expr, expr, …]` (all must hold), or `[op, rule, rule, …]` with `op` one of
 * AND, OR, !AND, !OR (any case) and at least two children. An expression is `[var, operator,
 * value]`, `[var, "!", operator, value]` (negated), or `[var, value]` (meaning `==`, the value
 * lower-cased, as lua-resty-expr does). `[]` always holds. Operators: == ~= > >= < <= ~~ ~* in has
 * ipmatch, in any case. Semantics follow lua-resty-expr's `compare_funcs` exactly:
 * - `==` / `~=`: with a JSON number on the right, the variable is read as a number (Lua's
 *   `tonumber`); otherwise values compare by type and value, so "18" is not 18.
 * - `>` `>=` `<` `<=`: both sides as numbers; false when either is not one.
 * - `~~` / `~*` (case-insensitive): the pattern may match anywhere in the value. Patterns run on
 *   RE2 (core/regex.ts, linear time), never on a backtracking engine.
 * - `in`: the right side is an array holding the value; `has`: the variable is an array holding
 *   the right side; `ipmatch`: the right side is an IP or CIDR, or an array of them.
 * - A missing variable is nil: `~=` a non-null value holds, every other operator fails (before
 *   `!` inverts it). A JSON null on the right is nil too: `["http_x", "==", null]` holds when
 *   the header is absent.
 *
 * Where lua-resty-expr would raise a Lua error (a rule element that is neither array nor string,
 * an operator that is not a string) or accept what can never work (a pattern that does not
 * compile, a CIDR prefix out of range, a variable name that is not a string), the rule is refused
 * when it is written instead, with a message in the library's style.
 *
 * Variables are read through `VarSource.var(name)`: the request state (`ctx.gateway`) is one; a
 * caller that knows more variables (the response status, MCP ones) wraps it.
 */
import { isIP } from 'node:net';
import { AddressSet } from './address-set.js';
import { LinearRegex, RegexError } from './regex.js';
import type { VarSource } from './template.js';

// Where an expression reads its variables: the same source as a `$var` template.
export type { VarSource } from './template.js';

/** A compiled rule. */
export interface Expression {
  /** Whether the rule holds for these variables. */
  test(source: VarSource): boolean;
  /** Every variable the rule reads (so a caller can tell whether it needs the request body). */
  readonly variables: readonly string[];
}

export interface ExprOptions {
  /** The largest RE2 program a `~~` / `~*` pattern may compile to (`limits.max_regex_program`). */
  maxRegexProgram: number;
}

/** Why a rule cannot be compiled, in lua-resty-expr's words. */
export class ExprError extends Error {}

/** APISIX's prefix for a rule that does not compile (the Admin API's 400, route and plugin checks alike). */
export const VARS_ERROR_PREFIX = "failed to validate the 'vars' expression: ";

type Test = (source: VarSource) => boolean;
type Compare = (left: unknown) => boolean;

const LOGIC_OPS = new Set(['AND', 'OR', '!AND', '!OR']);
const OPERATORS = new Set(['==', '~=', '>', '>=', '<', '<=', '~~', '~*', 'in', 'has', 'ipmatch']);
const ALWAYS: Expression = Object.freeze({ test: () => true, variables: Object.freeze([]) as readonly string[] });

/** Compiles `rule`, or throws an ExprError with lua-resty-expr's message. */
export function compileExpression(rule: unknown, options: ExprOptions): Expression {
  if (rule === undefined || rule === null) throw new ExprError('missing argument rule');
  if (!Array.isArray(rule)) throw new ExprError('rule should be wrapped inside brackets');
  if (rule.length === 0) return ALWAYS;
  const first = rule[0];
  if (!Array.isArray(first) && !(typeof first === 'string' && LOGIC_OPS.has(first.toUpperCase()))) {
    throw new ExprError('rule should be wrapped inside brackets');
  }
  const variables = new Set<string>();
  return { test: compileRule(rule, options, variables), variables: [...variables] };
}

/** APISIX's write-time message for `rule` (`failed to validate the 'vars' expression: …`), or undefined when it compiles. */
export function expressionProblem(rule: unknown, options: ExprOptions): string | undefined {
  try {
    compileExpression(rule, options);
    return undefined;
  } catch (err) {
    if (err instanceof ExprError) return VARS_ERROR_PREFIX + err.message;
    throw err;
  }
}

function compileRule(rules: unknown, options: ExprOptions, variables: Set<string>): Test {
  // lua-resty-expr measures a string child by its length, then fails on it; an object has no array part.
  if (!Array.isArray(rules)) {
    if (rules === '' || (typeof rules === 'object' && rules !== null)) throw new ExprError('rule too short');
    throw new ExprError('invalid expression');
  }
  if (rules.length === 0) throw new ExprError('rule too short');
  const first = rules[0];
  if (Array.isArray(first)) return all(rules.map((child) => compileRule(child, options, variables)));
  const logic = typeof first === 'string' ? first.toUpperCase() : undefined;
  if (logic !== undefined && LOGIC_OPS.has(logic)) {
    if (rules.length <= 2) throw new ExprError('rule too short');
    const children = rules.slice(1).map((child) => compileRule(child, options, variables));
    if (logic === 'AND') return all(children);
    if (logic === 'OR') return any(children);
    const inner = logic === '!AND' ? all(children) : any(children);
    return (source) => !inner(source);
  }
  return compileComparison(rules, options, variables);
}

function all(tests: Test[]): Test {
  if (tests.length === 1) return tests[0];
  return (source) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i](source)) return false;
    return true;
  };
}

function any(tests: Test[]): Test {
  return (source) => {
    for (let i = 0; i < tests.length; i++) if (tests[i](source)) return true;
    return false;
  };
}

/** `[var, op, value]`, `[var, "!", op, value]` or `[var, value]` (lua-resty-expr's compile_expr). */
function compileComparison(expr: unknown[], options: ExprOptions, variables: Set<string>): Test {
  let negate = false;
  let [name, op, right] = expr as [unknown, unknown, unknown];
  if (expr.length === 4) {
    if (expr[1] !== '!') throw new ExprError("bad 'not' expression");
    negate = true;
    [name, , op, right] = expr as [unknown, unknown, unknown, unknown];
  }
  let operator: string | undefined;
  if (op !== undefined) {
    if (typeof op !== 'string' && typeof op !== 'number') throw new ExprError(`invalid operator '${JSON.stringify(op)}'`);
    operator = String(op).toLowerCase();
  }
  // `expr.length < 3`: the value is absent, not a JSON null (which stands for nil on purpose).
  const hasValue = expr.length >= 3;
  if (!hasValue && !(operator !== undefined && OPERATORS.has(operator))) {
    // The two-element form: [var, value] means ==, with the value lower-cased like the operator was.
    if (operator === undefined) throw new ExprError('invalid expression');
    right = operator;
    operator = '==';
  }
  if (typeof name !== 'string' || operator === undefined) throw new ExprError('invalid expression');
  if (!OPERATORS.has(operator)) throw new ExprError(`invalid operator '${operator}'`);
  const compare = comparator(operator, hasValue ? (right ?? undefined) : right, options);
  variables.add(name);
  if (negate) return (source) => !compare(source.var(name));
  return (source) => compare(source.var(name));
}

function comparator(operator: string, right: unknown, options: ExprOptions): Compare {
  switch (operator) {
    case '==':
      if (typeof right === 'number') return (left) => toNumber(left) === right;
      return (left) => luaEquals(left ?? undefined, right);
    case '~=':
      if (typeof right === 'number') {
        return (left) => {
          const n = toNumber(left);
          return n === undefined || n !== right;
        };
      }
      return (left) => !luaEquals(left ?? undefined, right);
    case '>':
    case '>=':
    case '<':
    case '<=':
      return ordering(operator, toNumber(right));
    case '~~':
    case '~*':
      return matching(pattern(operator, right, options));
    case 'in':
      if (!Array.isArray(right)) return () => false;
      return (left) => right.some((item) => luaEquals(left ?? undefined, item));
    case 'has':
      return (left) => Array.isArray(left) && left.some((item) => luaEquals(item, right));
    default:
      return addressMatcher(right);
  }
}

function ordering(operator: string, right: number | undefined): Compare {
  if (right === undefined || Number.isNaN(right)) return () => false;
  switch (operator) {
    case '>':
      return (left) => {
        const n = toNumber(left);
        return n !== undefined && n > right;
      };
    case '>=':
      return (left) => {
        const n = toNumber(left);
        return n !== undefined && n >= right;
      };
    case '<':
      return (left) => {
        const n = toNumber(left);
        return n !== undefined && n < right;
      };
    default:
      return (left) => {
        const n = toNumber(left);
        return n !== undefined && n <= right;
      };
  }
}

function pattern(operator: string, right: unknown, options: ExprOptions): LinearRegex {
  if (typeof right !== 'string' && typeof right !== 'number') throw new ExprError(`invalid regex ${JSON.stringify(right ?? null)}: a pattern must be a string`);
  try {
    return LinearRegex.compile(String(right), options.maxRegexProgram, { caseInsensitive: operator === '~*' });
  } catch (err) {
    if (err instanceof RegexError) throw new ExprError(`invalid regex ${JSON.stringify(String(right))}: ${err.message}`);
    throw err;
  }
}

/** ngx.re.find: the variable as text (a number prints as Lua prints it), anywhere in it. */
function matching(regex: LinearRegex): Compare {
  return (left) => {
    if (typeof left === 'string') return regex.test(left);
    if (typeof left === 'number') return regex.test(String(left));
    return false;
  };
}

/** lua-resty-ipmatcher: IPv4 and IPv6 addresses and CIDRs (IPv6 optionally in brackets). */
function addressMatcher(right: unknown): Compare {
  if (right === undefined || right === null || right === '') throw new ExprError('invalid ip address');
  const entries = Array.isArray(right) ? right : [right];
  if (entries.length === 0 || (typeof right === 'object' && !Array.isArray(right))) throw new ExprError('invalid ip address');
  const cidrs = entries.map((entry) => {
    const text = typeof entry === 'string' ? entry : String(entry);
    const slash = text.indexOf('/');
    const address = unbracket(slash < 0 ? text : text.slice(0, slash));
    const normalized = slash < 0 ? address : `${address}/${text.slice(slash + 1)}`;
    if (typeof entry !== 'string' || isIP(address) === 0) throw new ExprError(`invalid ip address: ${slash < 0 ? text : text.slice(0, slash)}`);
    return normalized;
  });
  let set: AddressSet;
  try {
    set = new AddressSet(cidrs);
  } catch (err) {
    throw new ExprError(`invalid ip address: ${(err as Error).message}`);
  }
  return (left) => typeof left === 'string' && set.has(left);
}

function unbracket(address: string): string {
  return address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
}

/**
 * Lua's `==`: same type and value. Numbers compare as numbers; tables (arrays, objects) only
 * by identity, so a configured array never equals a variable's.
 */
function luaEquals(left: unknown, right: unknown): boolean {
  return left === right;
}

const LUA_SPACE = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * LuaJIT's `tonumber` on a variable: numbers as they are; strings in decimal, hexadecimal
 * (`0x1A`, `0x1.8p3`), `inf` or `nan`, surrounded by whitespace or not; anything else undefined.
 */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const text = value.replace(LUA_SPACE, '');
  if (DECIMAL.test(text)) return Number(text);
  const hex = HEX.exec(text);
  if (hex && (hex[2] || hex[3])) {
    const [, sign, whole, fraction = '', exponent = '0'] = hex;
    let n = whole ? parseInt(whole, 16) : 0;
    for (let i = 0; i < fraction.length; i++) n += parseInt(fraction[i], 16) / 16 ** (i + 1);
    n *= 2 ** Number(exponent);
    return sign === '-' ? -n : n;
  }
  const special = SPECIAL.exec(text);
  if (special) {
    if (special[2].toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  return undefined;
}
