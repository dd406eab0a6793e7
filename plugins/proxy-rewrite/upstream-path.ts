/**
 * The path proxy-rewrite sends upstream: `uri` with `$variables`, or the first `regex_uri` rule
 * that matches. Text the client chose is pasted percent-encoded, the result's dot segments are
 * resolved (the upstream never sees `..`), and a result that climbs above the part of the
 * template the route wrote is refused with 400: `/api/v1/public/$arg_file` reaches anything
 * under `/api/v1/public/` and nothing else (issue 10, item 9: `?file=..%2F..%2Fadmin` went
 * upstream as `/api/v1/public/../../admin`).
 */
import { defineErrors } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import type { LinearRegex, Replacement } from '../../core/regex.js';
import { compileTemplate, type Template, type VarSource } from '../../core/template.js';
import { percentEncode } from '../../core/variables.js';

/** Variables whose values are URL text already (the normalized path, the raw query): pasted as they are. */
const URL_VARIABLES = new Set(['uri', 'request_uri', 'args']);

// What may stay literal in a path segment: unreserved characters, "/" and the sub-delimiters
// except ";" (Tomcat reads "..;/" as ".."). Everything else — "?", "#", "%", spaces, control
// characters, non-ASCII — is encoded.
const PATH_UNSAFE = /[^A-Za-z0-9\-._~/!$&'()*+,=:@]+/g;
// In the query, also "&", "=", "+", "/", "$", ",", ":", "@": a value stays one parameter's value.
const QUERY_UNSAFE = /[^A-Za-z0-9\-._~!'()*]+/g;

const pathEscape = (value: string, name: string) => (URL_VARIABLES.has(name) ? value : value.replace(PATH_UNSAFE, percentEncode));
const queryEscape = (value: string, name: string) => (URL_VARIABLES.has(name) ? value : value.replace(QUERY_UNSAFE, percentEncode));

export const ERRORS = defineErrors({
  GW_REWRITE_OUTSIDE_PREFIX: { status: 400, message: 'the rewritten path leaves the prefix its route allows' },
});

/** proxy-rewrite's `uri`, split once into its path and query templates. */
export class UriTemplate {
  private readonly path: Template;
  private readonly query?: Template;
  /** The directory the route wrote before its first variable; undefined when the path has none. */
  private readonly prefix?: string;

  constructor(template: string) {
    // The first "?" of the template's own text: one in a `${var ?? default}` is the default's.
    const mark = compileTemplate(template).ownText.indexOf('?');
    this.path = compileTemplate(mark < 0 ? template : template.slice(0, mark));
    this.query = mark < 0 ? undefined : compileTemplate(template.slice(mark + 1));
    if (!this.path.isConstant) this.prefix = directoryOf(this.path.literalPrefix);
  }

  expand(vars: VarSource): string {
    const path = confine(this.path.render(vars, pathEscape), this.prefix);
    return this.query === undefined ? path : `${path}?${this.query.render(vars, queryEscape)}`;
  }
}

/** One `regex_uri` pair. */
export class RegexRule {
  constructor(
    private readonly regex: LinearRegex,
    private readonly replacement: Replacement,
  ) {}

  /** The rewritten path, or undefined when the pattern does not match `path`. */
  apply(path: string): string | undefined {
    if (!this.regex.test(path)) return undefined;
    const match = this.regex.exec(path);
    if (!match) return undefined;
    const head = path.slice(0, match.index);
    const result = head + this.replacement.expand(match) + path.slice(match.end);
    // Captures are the client's text: confined to what precedes the first one.
    return confine(result, this.replacement.usesCaptures ? directoryOf(head + this.replacement.literalPrefix) : undefined);
  }
}

/**
 * `result` with its path's dot segments resolved (and a leading "/" if it had none), checked to
 * stay under `prefix` when one is given. Throws a 400 GatewayError otherwise.
 */
function confine(result: string, prefix: string | undefined): string {
  const mark = result.indexOf('?');
  let path = mark < 0 ? result : result.slice(0, mark);
  path = normalizePath(path.startsWith('/') ? path : `/${path}`);
  if (prefix !== undefined && !`${path}/`.startsWith(prefix)) throw ERRORS.GW_REWRITE_OUTSIDE_PREFIX.error();
  return mark < 0 ? path : path + result.slice(mark);
}

/** `/api/v1/public/` for `/api/v1/public/x`, normalized, always ending with "/". */
function directoryOf(text: string): string {
  const dir = text.slice(0, text.lastIndexOf('/') + 1);
  return dir.startsWith('/') ? normalizePath(dir) : '/';
}

/**
 * Why `text` (a `uri`, or a replacement's literal part) could not stand in a request line, or
 * undefined: a control character (CR and LF would split the request), a character that must be
 * percent-encoded (a space, "#", non-ASCII …), or a malformed percent-escape.
 */
export function urlTextProblem(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return `contains a control character (CR, LF, NUL …) at offset ${i}`;
    if (c === 0x25 && !/^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) return `has a malformed percent-escape at offset ${i}`;
    if (!URL_TEXT.test(text[i])) return `${JSON.stringify(text[i])} at offset ${i} must be percent-encoded (${percentEncode(text[i])})`;
  }
  return undefined;
}

/** RFC 3986 pchar plus "/" and "?", and "%" for escapes. */
const URL_TEXT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]$/;
