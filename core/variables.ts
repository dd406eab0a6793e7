/**
 * Escapes for values pasted into what a request sends, and checks of header text from
 * configuration. Several variables are the client's own text, decoded (`$arg_`, `$cookie_`):
 * pasted raw into a `$var` template (core/template.ts) they can change what they land in —
 * `?file=..%2F..%2Fadmin` climbed out of `/api/v1/public/$arg_file` upstream, `%0D%0A` broke a
 * header and failed the request (issue 10, item 9). So each template user passes the escape for
 * where the value lands.
 */

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
