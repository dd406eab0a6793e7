/**
 * Names across a federation: the lists it merges, the names it exposes, the cursor of its own it
 * pages them with, and which server a resource URI belongs to.
 */
import { LinearRegex } from '../../core/regex.js';

/** A list the federation merges: the field of the result holding it, and the capability that offers it. */
export interface ListShape {
  readonly field: 'tools' | 'prompts' | 'resources' | 'resourceTemplates';
  readonly capability: 'tools' | 'prompts' | 'resources';
  /** Tools and prompts are renamed with their server's prefix; resources keep their URIs. */
  readonly prefixed: boolean;
  /** What identifies an item (unique per merged list). */
  readonly key: 'name' | 'uri' | 'uriTemplate';
}

export const LISTS: Readonly<Record<string, ListShape>> = {
  'tools/list': { field: 'tools', capability: 'tools', prefixed: true, key: 'name' },
  'prompts/list': { field: 'prompts', capability: 'prompts', prefixed: true, key: 'name' },
  'resources/list': { field: 'resources', capability: 'resources', prefixed: false, key: 'uri' },
  'resources/templates/list': { field: 'resourceTemplates', capability: 'resources', prefixed: false, key: 'uriTemplate' },
};

/** The lists a server's `notifications/<kind>/list_changed` makes stale. */
export const STALE_LISTS: Readonly<Record<string, readonly string[]>> = {
  'notifications/tools/list_changed': ['tools/list'],
  'notifications/prompts/list_changed': ['prompts/list'],
  'notifications/resources/list_changed': ['resources/list', 'resources/templates/list'],
};

/**
 * MCP 2025-11-25, server/tools "Tool names": 1–128 characters of letters, digits, `_`, `-`, `.`.
 * A prefixed name outside it would be refused by clients (and LLM APIs): left out of lists.
 */
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export function isValidToolName(name: string): boolean {
  return TOOL_NAME.test(name);
}

/**
 * The gateway's cursor: where in the merged list the next page starts. Opaque to clients
 * (base64url JSON); one that does not decode is refused with -32602, as the pagination spec says.
 */
export function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

export function decodeCursor(cursor: unknown): number | undefined {
  if (cursor === undefined) return 0;
  if (typeof cursor !== 'string' || cursor.length > 64) return undefined;
  try {
    const { o } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    return typeof o === 'number' && Number.isInteger(o) && o >= 0 ? o : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A resource template (RFC 6570) as a matcher of URIs: `{var}` stands for a run without `/`, `?`
 * or `#`; any other expression (`{+path}`, `{?query}`, `{/seg}`…) for any run. Matched in linear
 * time (RE2), so a long URI from a client costs what its length does. Undefined for a template
 * that cannot be made a pattern.
 */
export function templateMatcher(template: string, maxProgram: number): ((uri: string) => boolean) | undefined {
  let source = '^';
  let at = 0;
  for (const expression of template.matchAll(/\{([^{}]*)\}/g)) {
    source += escape(template.slice(at, expression.index));
    source += /^[A-Za-z0-9_%]/.test(expression[1]) ? '[^/?#]*' : '.*';
    at = expression.index + expression[0].length;
  }
  source += `${escape(template.slice(at))}$`;
  try {
    const regex = LinearRegex.compile(source, maxProgram);
    return (uri) => regex.test(uri);
  } catch {
    return undefined;
  }
}

function escape(literal: string): string {
  return literal.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
