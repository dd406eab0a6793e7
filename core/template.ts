/**
 * The one `$var` template language (APISIX's `core.utils.resolve_var`): every configuration string
 * that names request variables — a limit key, a proxy-rewrite `uri` or header, an api-breaker or
 * response-rewrite header, a logger's `log_format` — is compiled here once per config and rendered
 * per request from `ctx.gateway.var`.
 *
 * - `$name`: letters, digits and `_` (APISIX's `\w`; a dot ends the name, so `$arg_file.json` is
 *   the variable and then `.json`).
 * - `${name}`: the same name, delimited (`${consumer_name}_${mcp_tool}`), spaces inside allowed.
 * - `${name ?? default}`: the default (any text but `}`) when the variable has no value (APISIX 3.16).
 * - `\$` stays as it is and is no reference (APISIX keeps the backslash too).
 * - A `$` that starts no reference (`$`, `$-`, `${`, `${}`, `${a b}`) is text. APISIX takes
 *   anything up to `}` as a name there, which can only ever name nothing.
 *
 * A variable has no value when it is undefined, null or "": it renders as nothing. Where the value
 * lands decides its escape (a path, a query, a header value): each caller passes one, and a
 * default is escaped like a value, since it stands in for one.
 */

/** Where a template reads variables: `ctx.gateway` is one; a caller that knows more wraps it. */
export interface VarSource {
  /** The variable's value; undefined or null when missing. */
  var(name: string): unknown;
}

/** Turns a variable's value into text that is safe where it lands. */
export type Escape = (value: string, name: string) => string;

interface Reference {
  readonly name: string;
  /** From `${name ?? default}`. */
  readonly fallback?: string;
  /** Where the reference stands in the source: [start, end). */
  readonly start: number;
  readonly end: number;
}

/** A compiled template. */
export class Template {
  /** Every variable the template names, in order (repeats kept). */
  readonly variables: readonly string[];
  /** The text before the first reference (the whole text when there is none). */
  readonly literalPrefix: string;
  /** The variable the whole template is (`$status`, `${status}`), when it is exactly one reference without a default. */
  readonly sole?: string;
  /** Literal text and references, alternating: text at even indexes (possibly ""), references at odd ones. */
  private readonly parts: ReadonlyArray<string | Reference>;

  constructor(readonly source: string) {
    this.parts = parse(source);
    const references = this.parts.filter((part): part is Reference => typeof part !== 'string');
    this.variables = references.map((ref) => ref.name);
    this.literalPrefix = this.parts[0] as string;
    if (this.parts.length === 3 && this.parts[0] === '' && this.parts[2] === '' && references[0].fallback === undefined) this.sole = references[0].name;
  }

  /**
   * The source with each reference replaced by as many `x`s as it is long: the template's own
   * text, for checks that must not look inside references, with offsets that stay true.
   */
  get ownText(): string {
    let text = this.source;
    for (let i = 1; i < this.parts.length; i += 2) {
      const { start, end } = this.parts[i] as Reference;
      text = text.slice(0, start) + 'x'.repeat(end - start) + text.slice(end);
    }
    return text;
  }

  /** Whether it names no variable: it always renders as its own text. */
  get isConstant(): boolean {
    return this.parts.length === 1;
  }

  /** The text with each reference replaced by its value (nothing when it has none), escaped by `escape`. */
  render(vars: VarSource, escape?: Escape): string {
    return this.renderCounting(vars, escape).text;
  }

  /**
   * As `render`, but undefined when the template names variables and none of them had a value
   * (APISIX's `n_resolved == 0`: a limit key then falls back or skips its rule).
   */
  renderIfResolved(vars: VarSource, escape?: Escape): string | undefined {
    const { text, resolved } = this.renderCounting(vars, escape);
    return resolved === 0 && !this.isConstant ? undefined : text;
  }

  /** The value of a template that is one variable, as the source gives it (a number stays a number); otherwise the rendered text. */
  value(vars: VarSource): unknown {
    if (this.sole === undefined) return this.render(vars);
    const value = vars.var(this.sole);
    return value === null || value === '' ? undefined : value;
  }

  private renderCounting(vars: VarSource, escape: Escape | undefined): { text: string; resolved: number } {
    const parts = this.parts;
    if (parts.length === 1) return { text: parts[0] as string, resolved: 0 };
    let text = parts[0] as string;
    let resolved = 0;
    for (let i = 1; i < parts.length; i += 2) {
      const ref = parts[i] as Reference;
      const raw = vars.var(ref.name);
      const value = raw === undefined || raw === null || raw === '' ? ref.fallback : String(raw);
      if (value !== undefined) {
        resolved += 1;
        text += escape ? escape(value, ref.name) : value;
      }
      text += parts[i + 1] as string;
    }
    return { text, resolved };
  }
}

/** Compiles `source` (see the file header for the language). */
export function compileTemplate(source: string): Template {
  return new Template(source);
}

const NAME_CHAR = /[A-Za-z0-9_]/;
const NAME = /^[A-Za-z0-9_]+$/;
const DEFAULT_SEPARATOR = /\s*\?\?\s*/;

function parse(source: string): Array<string | Reference> {
  const parts: Array<string | Reference> = [];
  let text = '';
  let i = 0;
  while (i < source.length) {
    const dollar = source.indexOf('$', i);
    if (dollar < 0) break;
    text += source.slice(i, dollar);
    i = dollar + 1;
    if (dollar > 0 && source[dollar - 1] === '\\') {
      text += '$';
      continue;
    }
    let ref: Reference | undefined;
    if (source[i] === '{') {
      const close = source.indexOf('}', i + 1);
      const inner = close < 0 ? '' : source.slice(i + 1, close).trim();
      const split = DEFAULT_SEPARATOR.exec(inner);
      const name = split ? inner.slice(0, split.index) : inner;
      if (NAME.test(name)) {
        ref = { name, fallback: split ? inner.slice(split.index + split[0].length) : undefined, start: dollar, end: close + 1 };
        i = close + 1;
      }
    } else {
      let end = i;
      while (end < source.length && NAME_CHAR.test(source[end])) end += 1;
      if (end > i) {
        ref = { name: source.slice(i, end), start: dollar, end };
        i = end;
      }
    }
    if (!ref) {
      text += '$';
      continue;
    }
    parts.push(text, ref);
    text = '';
  }
  parts.push(text + source.slice(i));
  return parts;
}
