/**
 * response-rewrite's header edits: `{add, set, remove}` (or APISIX's older plain map, meaning
 * `set`), applied in APISIX's order — add, then set, then remove — with `$variables` in values.
 * Names and values are checked when the config is written, so a header that could never be sent
 * is a 400 naming it rather than a failed response.
 */
import type { GatewayContext } from '../../core/context.js';
import { compileTemplate, type Template, type VarSource } from '../../core/template.js';
import { headerValueEscape, headerValueProblem, isHeaderName } from '../../core/variables.js';

type Value = string | number;

interface HeaderEdits {
  add?: string[];
  set?: Record<string, Value>;
  remove?: string[];
}

export type HeadersConf = HeaderEdits | Record<string, Value>;

/** `Name: value` in `add` (APISIX's create_header_operation). */
const ADD_ITEM = /^([^:\s]+)\s*:\s*([^:]+)$/;
/** Framing is the gateway's: a rewritten length or encoding would corrupt the response. */
const GATEWAY_OWNED = new Set(['content-length', 'transfer-encoding', 'connection']);

const headerValues = { type: 'object', minProperties: 1, additionalProperties: { type: ['string', 'number'] } };

export const headersSchema = {
  description:
    'Response header edits: `{"add": ["Name: value", …], "set": {"Name": "value"}, "remove": ["Name"]}` (applied in that order), or a plain `{"Name": "value"}` map meaning set. Values may contain `$variables`; a value that is empty removes the header.',
  anyOf: [
    {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        add: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[^:]*[^/]$' } },
        set: headerValues,
        remove: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+$' } },
      },
    },
    headerValues,
  ],
};

function isStructured(headers: HeadersConf): headers is HeaderEdits {
  return Array.isArray(headers.add) || (typeof headers.set === 'object' && headers.set !== null) || Array.isArray(headers.remove);
}

/** The edits as [name, value template] pairs, names as written. */
function pairsOf(headers: HeadersConf): { add: Array<[string, string]>; set: Array<[string, string]>; remove: string[] } {
  if (!isStructured(headers)) return { add: [], set: Object.entries(headers).map(([k, v]) => [k, String(v)]), remove: [] };
  return {
    add: (headers.add ?? []).map((item) => {
      const m = ADD_ITEM.exec(item);
      return m ? [m[1], m[2]] : ['', item];
    }),
    set: Object.entries(headers.set ?? {}).map(([k, v]) => [k, String(v)]),
    remove: headers.remove ?? [],
  };
}

/** The first problem with `headers`, naming the entry, or undefined. */
export function headersProblem(headers: HeadersConf): string | undefined {
  const { add, set, remove } = pairsOf(headers);
  const where = (field: string, name: string) => `headers${isStructured(headers) ? `.${field}` : ''}[${JSON.stringify(name)}]`;
  for (const [i, [name, value]] of add.entries()) {
    if (!name) return `headers.add[${i}]: ${JSON.stringify(value)} is not "Name: value"`;
    const problem = entryProblem(name, value);
    if (problem) return `headers.add[${i}]: ${problem}`;
  }
  for (const [name, value] of set) {
    const problem = entryProblem(name, value);
    if (problem) return `${where('set', name)}: ${problem}`;
  }
  for (const name of remove) if (!isHeaderName(name)) return `${where('remove', name)}: not a valid header name`;
  return undefined;
}

function entryProblem(name: string, value: string): string | undefined {
  if (!isHeaderName(name)) return `${JSON.stringify(name)} is not a valid header name (letters, digits and !#$%&'*+.^_\`|~- only)`;
  if (GATEWAY_OWNED.has(name.toLowerCase())) return `${name} is set by the gateway and cannot be written here`;
  const problem = headerValueProblem(value);
  return problem && `value ${problem}`;
}

/** The edits of one route version. */
export class ResponseHeaderEdits {
  private readonly add: Array<[string, Template]>;
  private readonly set: Array<[string, Template]>;
  private readonly remove: string[];

  constructor(headers: HeadersConf) {
    const { add, set, remove } = pairsOf(headers);
    this.add = add.map(([name, value]) => [name, compileTemplate(value)]);
    this.set = set.map(([name, value]) => [name, compileTemplate(value)]);
    this.remove = remove;
  }

  apply(ctx: GatewayContext, vars: VarSource): void {
    for (const [name, template] of this.add) {
      const value = template.render(vars, headerValueEscape);
      if (value) ctx.append(name, value);
    }
    for (const [name, template] of this.set) {
      const value = template.render(vars, headerValueEscape);
      // An empty value removes the header, as in APISIX (`"Content-Type": ""`).
      if (value) ctx.set(name, value);
      else ctx.remove(name);
    }
    for (const name of this.remove) ctx.remove(name);
  }
}
