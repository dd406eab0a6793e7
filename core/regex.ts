/**
 * Regular expressions taken from configuration (proxy-rewrite's `regex_uri`, and any plugin's):
 * RE2 syntax, run by re2js, whose matching time grows linearly with the input. Never JavaScript's
 * backtracking RegExp: there `^/rx/(a|a)*$` and a 30-character path held the event loop for
 * 11 s, stalling every client (issue 10, item 6), and no static "safe regex" check catches every
 * such pattern. RE2 has no backreferences and no lookaround; a pattern using them is refused
 * with that reason when the configuration is written.
 *
 * Linear is not free: the worst case grows with the compiled program's size times the input's
 * length, so a pattern is also refused beyond `limits.max_regex_program` instructions.
 *
 * Replacement templates follow ngx.re.sub, as APISIX's `regex_uri` does: `$0`…`$N` and `${N}`
 * insert a capture, `$$` a dollar sign.
 */
import { RE2JS, RE2JSException } from 're2js';

/** Why a pattern or a replacement template cannot be used; the message names the reason. */
export class RegexError extends Error {}

/** The leftmost match: where it starts and ends, and its captures (`[0]` the whole match; undefined for a group that took no part). */
export interface RegexMatch {
  readonly index: number;
  readonly end: number;
  readonly captures: ReadonlyArray<string | undefined>;
}

/** Matching modes, as ngx.re's `i`, `m` and `s` options (and PCRE's `(?i)`, `(?m)`, `(?s)`). */
export interface RegexFlags {
  caseInsensitive?: boolean;
  /** `^` and `$` match at line breaks too. */
  multiLine?: boolean;
  /** `.` matches a newline too. */
  dotAll?: boolean;
}

/**
 * `^literal(.*)` or `^literal(.*)$`: a path prefix and the rest as group 1, the shape most
 * `regex_uri` rules have (APISIX's own examples). For it a string comparison gives exactly the
 * match RE2 would, in a tenth of the time re2js's engine takes (2 µs a request, an 11% rise in
 * the gateway's instructions for a proxy-rewrite route when regex_uri moved to re2js).
 */
interface PrefixShape {
  literal: string;
  /** `$` ends the pattern: the rest must reach the end of the input. */
  toEnd: boolean;
  /** `.` matches a newline too (the `s` flag). */
  dotAll: boolean;
}

/**
 * The pattern as a PrefixShape, or undefined. The literal is made of characters RE2 takes as
 * themselves and of escaped ASCII punctuation; `^` and `$` anchor at the text's ends only
 * without the `m` flag, and `i` would make the comparison case-insensitive: both are left to RE2.
 */
function prefixShape(source: string, flags: RegexFlags): PrefixShape | undefined {
  if (flags.caseInsensitive || flags.multiLine) return undefined;
  const shape = /^\^((?:[^\\.+*?()|[\]{}^$]|\\[!-/:-@[-`{-~])*)\(\.\*\)(\$?)$/.exec(source);
  if (!shape) return undefined;
  return { literal: shape[1].replace(/\\(.)/g, '$1'), toEnd: shape[2] === '$', dotAll: flags.dotAll === true };
}

/** A compiled configuration pattern. */
export class LinearRegex {
  private constructor(
    readonly source: string,
    private readonly re: RE2JS,
    private readonly shape: PrefixShape | undefined,
  ) {}

  /**
   * Compiles `source` (RE2 syntax) or throws a RegexError naming the reason: a syntax error,
   * a backreference or lookaround (which RE2 cannot run in linear time), or a compiled program
   * larger than `maxProgram` instructions.
   */
  static compile(source: string, maxProgram: number, flags: RegexFlags = {}): LinearRegex {
    let re: RE2JS;
    const mode = (flags.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0) | (flags.multiLine ? RE2JS.MULTILINE : 0) | (flags.dotAll ? RE2JS.DOTALL : 0);
    try {
      re = RE2JS.compile(source, mode);
    } catch (err) {
      if (err instanceof RE2JSException) throw new RegexError(syntaxReason(err.message));
      throw err;
    }
    const size = re.programSize();
    if (size > maxProgram) {
      throw new RegexError(`compiles to ${size} RE2 instructions, more than limits.max_regex_program (${maxProgram}); matching time grows with this size`);
    }
    return new LinearRegex(source, re, prefixShape(source, flags));
  }

  /** Number of capturing groups (named groups count too, in order). */
  get groupCount(): number {
    return this.re.groupCount();
  }

  test(input: string): boolean {
    if (this.shape) return this.prefixMatchEnd(input) >= 0;
    return this.re.test(input);
  }

  exec(input: string): RegexMatch | null {
    if (this.shape) {
      const end = this.prefixMatchEnd(input);
      return end < 0 ? null : { index: 0, end, captures: [input.slice(0, end), input.slice(this.shape.literal.length, end)] };
    }
    const found = this.re.exec(input) as (Array<string | undefined> & { index: number }) | null;
    if (!found) return null;
    return { index: found.index, end: found.index + found[0]!.length, captures: found };
  }

  /**
   * Where RE2's match of a PrefixShape pattern ends (it starts at 0), or -1 for none: group 1
   * runs to the end of the input, or to its first newline unless `.` matches one.
   */
  private prefixMatchEnd(input: string): number {
    const { literal, toEnd, dotAll } = this.shape!;
    if (!input.startsWith(literal)) return -1;
    const newline = dotAll ? -1 : input.indexOf('\n', literal.length);
    if (newline < 0) return input.length;
    return toEnd ? -1 : newline;
  }

  /** `input` with its first match replaced by `replacement` expanded (ngx.re.sub), or undefined when nothing matches. */
  replaceFirst(input: string, replacement: Replacement): string | undefined {
    // re2js's DFA answers "no match" without tracking captures: most rules do not match most
    // paths. A prefix shape's exec is as cheap as its test: it runs once.
    if (!this.shape && !this.re.test(input)) return undefined;
    const match = this.exec(input);
    if (!match) return undefined;
    return input.slice(0, match.index) + replacement.expand(match) + input.slice(match.end);
  }

  /** `input` with every match replaced by `replacement` expanded (ngx.re.gsub), or undefined when nothing matches. */
  replaceAll(input: string, replacement: Replacement): string | undefined {
    if (!this.test(input)) return undefined;
    let out = '';
    let from = 0;
    for (const found of this.re.matchAll(input)) {
      const index = found.index ?? 0;
      out += input.slice(from, index) + replacement.expand({ index, end: index + found[0].length, captures: found });
      from = index + found[0].length;
    }
    return out + input.slice(from);
  }
}

/** A replacement template in ngx.re.sub's syntax, parsed once. */
export class Replacement {
  private constructor(
    readonly source: string,
    private readonly parts: ReadonlyArray<string | number>,
  ) {}

  /**
   * Parses `template` for a pattern with `groupCount` groups; throws a RegexError for a `$` that
   * is not `$N`, `${N}` or `$$`, and for a group the pattern does not have.
   */
  static parse(template: string, groupCount: number): Replacement {
    const parts: Array<string | number> = [];
    let literal = '';
    for (let i = 0; i < template.length; i++) {
      const c = template[i];
      if (c !== '$') {
        literal += c;
        continue;
      }
      const next = template[i + 1];
      if (next === '$') {
        literal += '$';
        i += 1;
        continue;
      }
      const ref = /^(?:(\d+)|\{(\d+)\})/.exec(template.slice(i + 1));
      if (!ref) {
        throw new RegexError(`"$" at offset ${i} must be followed by a group number ($1 or \${1}) or another "$" ($$ for a dollar sign); named groups are referred to by number`);
      }
      const group = Number(ref[1] ?? ref[2]);
      if (group > groupCount) throw new RegexError(`refers to group $${group}, but the pattern has ${groupCount} group${groupCount === 1 ? '' : 's'}`);
      if (literal) parts.push(literal);
      literal = '';
      parts.push(group);
      i += ref[0].length;
    }
    if (literal) parts.push(literal);
    return new Replacement(template, parts);
  }

  /** Whether the template inserts a capture at all. */
  get usesCaptures(): boolean {
    return this.parts.some((part) => typeof part === 'number');
  }

  /** The literal text before the first capture reference (all of it when there is none). */
  get literalPrefix(): string {
    const first = this.parts[0];
    return typeof first === 'string' ? first : '';
  }

  expand(match: RegexMatch): string {
    let out = '';
    for (const part of this.parts) out += typeof part === 'string' ? part : (match.captures[part] ?? '');
    return out;
  }
}

/** RE2's message without its prefix, and in plain words when the pattern needs backtracking. */
function syntaxReason(message: string): string {
  const detail = message.replace(/^error parsing regexp: /, '');
  if (/`\(\?(=|!|<=|<!)/.test(detail)) {
    return `lookaround ((?=…), (?!…), (?<=…), (?<!…)) is not supported: patterns run on RE2, which matches in linear time (${detail})`;
  }
  if (/invalid escape sequence: `\\([1-9]|k)/.test(detail)) {
    return `backreferences (\\1, \\k<name>) are not supported: patterns run on RE2, which matches in linear time (${detail})`;
  }
  return detail;
}
