/**
 * proxy-rewrite's header edits. Checked when the route is written: a name that is not an HTTP
 * token, or a value with CR, LF, NUL or anything else a header cannot carry, is a 400 naming the
 * field — never a stored route that fails every request (issue 10, item 11). Applied per request
 * with `$variables`, whose values are percent-encoded where a header could not carry them.
 */
import type { GatewayContext } from '../../core/context.js';
import { compileTemplate, type Template } from '../../core/template.js';
import { headerValueEscape } from '../../core/variables.js';

export interface HeaderEdits {
  add?: Record<string, string>;
  set?: Record<string, string>;
  remove?: string[];
}

/** `{add, set, remove}`, or APISIX's older plain map, which means `set`. */
export type HeadersConf = HeaderEdits | Record<string, string>;

/** RFC 9110 token: the characters a header name may have. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function isStructured(headers: HeadersConf): headers is HeaderEdits {
  return 'add' in headers || 'set' in headers || 'remove' in headers;
}

/** The first problem with `headers`, naming the field, or undefined. */
export function headerEditsProblem(headers: HeadersConf): string | undefined {
  if (!isStructured(headers)) return mapProblem('headers', headers as Record<string, string>);
  return (
    mapProblem('headers.set', headers.set) ??
    mapProblem('headers.add', headers.add) ??
    (headers.remove ?? []).map((name, i) => nameProblem(`headers.remove[${i}]`, name)).find(Boolean)
  );
}

function mapProblem(field: string, map: Record<string, string> | undefined): string | undefined {
  for (const [name, value] of Object.entries(map ?? {})) {
    const where = `${field}[${JSON.stringify(name)}]`;
    const problem = nameProblem(where, name) ?? valueProblem(where, value);
    if (problem) return problem;
  }
  return undefined;
}

function nameProblem(where: string, name: string): string | undefined {
  if (TOKEN.test(name)) return undefined;
  return `${where}: ${JSON.stringify(name)} is not a valid header name (letters, digits and !#$%&'*+.^_\`|~- only)`;
}

/** APISIX's rule (printable ASCII), with tab allowed as HTTP allows it. */
function valueProblem(where: string, value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return `${where}: value contains a control character (CR, LF, NUL …) at offset ${i}`;
    if (c > 0x7e) return `${where}: value has ${JSON.stringify(value[i])} at offset ${i}, which cannot be sent in a header: header values are ASCII (percent-encode it)`;
  }
  return undefined;
}

/** The edits of one route, names lower-cased once. */
export class CompiledHeaderEdits {
  private readonly add: Array<[string, Template]>;
  private readonly set: Array<[string, Template]>;
  private readonly remove: string[];

  constructor(headers: HeadersConf | undefined) {
    const edits: HeaderEdits = !headers ? {} : isStructured(headers) ? headers : { set: headers as Record<string, string> };
    this.add = Object.entries(edits.add ?? {}).map(([k, v]) => [k.toLowerCase(), compileTemplate(v)]);
    this.set = Object.entries(edits.set ?? {}).map(([k, v]) => [k.toLowerCase(), compileTemplate(v)]);
    this.remove = (edits.remove ?? []).map((k) => k.toLowerCase());
  }

  /**
   * In APISIX's order (proxy-rewrite.lua): add (appends to the client's value), then set
   * (replaces, so it beats an add of the same header), then remove (beats both). A set whose
   * value is empty, or whose variables all resolve to nothing, removes the header: APISIX sends
   * no header for `""` or for an unknown `$var` rather than an empty one.
   */
  apply(ctx: GatewayContext): void {
    const plan = ctx.gateway.upstream;
    const vars = ctx.gateway;
    for (const [name, value] of this.add) {
      const added = value.render(vars, headerValueEscape);
      if (added === '') continue;
      const existing = plan.headers.has(name) ? plan.headers.get(name) : ctx.get(name);
      plan.headers.set(name, existing ? `${existing}, ${added}` : added);
    }
    for (const [name, value] of this.set) {
      const resolved = value.render(vars, headerValueEscape);
      plan.headers.set(name, resolved === '' ? null : resolved);
    }
    for (const name of this.remove) plan.headers.set(name, null);
  }
}
