/**
 * `$name` references in configuration strings (proxy-rewrite's `uri` and header values,
 * api-breaker's response headers), filled from the request's variables (`ctx.gateway.var`).
 * Several variables are the client's own text, decoded (`$arg_`, `$cookie_`): pasted raw they
 * can change what they land in — `?file=..%2F..%2Fadmin` climbed out of
 * `/api/v1/public/$arg_file` upstream, `%0D%0A` broke a header and failed the request (issue 10,
 * item 9). So each caller passes the escape for where the value lands.
 */

/** `$name`: a letter or underscore, then letters, digits, underscores (nginx's variable names). */
const REFERENCE = /\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Turns a variable's value into text that is safe where it lands. */
export type Escape = (value: string, name: string) => string;

/** `template` with each `$name` replaced by `lookup(name)` (nothing when undefined), escaped by `escape`. */
export function expandVariables(template: string, lookup: (name: string) => string | undefined, escape?: Escape): string {
  if (!template.includes('$')) return template;
  return template.replace(REFERENCE, (_m, name: string) => {
    const value = lookup(name);
    if (value === undefined) return '';
    return escape ? escape(value, name) : value;
  });
}

/** Where the first `$name` reference starts, or -1: the text before it is the template's own. */
export function firstVariableAt(template: string): number {
  return template.search(REFERENCE);
}

/**
 * Characters an HTTP header value cannot carry (control characters but tab, DEL, and anything
 * beyond Latin-1, which Node and undici refuse) become UTF-8 percent-escapes: the value arrives
 * readable and cannot split the header or fail the request.
 */
export function headerValueEscape(value: string): string {
  return UNSENDABLE_IN_HEADER.test(value) ? value.replace(UNSENDABLE_IN_HEADER_ALL, percentEncode) : value;
}

// eslint-disable-next-line no-control-regex
const UNSENDABLE_IN_HEADER = /[\x00-\x08\x0a-\x1f\x7f\u0100-\uffff]/;
// eslint-disable-next-line no-control-regex
const UNSENDABLE_IN_HEADER_ALL = /[\x00-\x08\x0a-\x1f\x7f]|[\u0100-\uffff]+/g;

/** Every byte of `text`'s UTF-8 form as `%XX` (a lone surrogate becomes U+FFFD's bytes, never a throw). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`;
  return out;
}

/**
 * Why `value` can never be sent as a header value (Node refuses control characters but tab,
 * DEL, and anything beyond Latin-1), naming the offset; undefined when it can. For header values
 * taken from configuration, checked when the config is written: refused then, never per request.
 */
export function headerValueProblem(value: string): string | undefined {
  const bad = UNSENDABLE_IN_HEADER.exec(value);
  if (!bad) return undefined;
  const c = bad[0].charCodeAt(0);
  return c > 0xff
    ? `has ${JSON.stringify(bad[0])} at offset ${bad.index}, which a header cannot carry (Latin-1 only)`
    : `contains a control character (CR, LF, NUL …) at offset ${bad.index}`;
}

/** RFC 9110 token: what a header name may contain. */
export function isHeaderName(name: string): boolean {
  return HEADER_NAME.test(name);
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
