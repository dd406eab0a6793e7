/**
 * Where an Admin API error belongs on a form. The API names the failing field by JSON pointer
 * (`invalid configuration: property "/methods/0" validation failed: …`, and for a plugin
 * `failed to check the configuration of plugin limit-count err: property "/count" …`); a few
 * other messages name it in words. The message itself is always shown as the API said it.
 */

export interface FieldError {
  pointer: string;
  message: string;
}

export type FieldErrors = readonly FieldError[];

const WORDED: Array<[RegExp, (m: RegExpExecArray) => string]> = [
  [/^unknown plugin \[([^\]]+)\]/, (m) => `/plugins/${m[1]}`],
  [/^duplicate key of plugin ([\w-]+)/, (m) => `/plugins/${m[1]}/key`],
  [/^failed to fetch upstream info/, () => '/upstream_id'],
  [/^failed to fetch service info/, () => '/service_id'],
  [/^failed to fetch plugin config info/, () => '/plugin_config_id'],
  [/^failed to fetch consumer group info/, () => '/group_id'],
  [/^only one of host or hosts/, () => '/host'],
  [/^only one of remote_addr or remote_addrs/, () => '/remote_addr'],
  [/^only one of upstream or upstream_id/, () => '/upstream_id'],
  [/^failed to validate the 'vars' expression/, () => '/vars'],
  [/^uri "/, () => '/uri'],
  [/^remote_addrs?\[/, () => '/remote_addrs'],
  [/^wrong (?:[\w ]+ )?id/, () => '/id'],
  [/^wrong username/, () => '/username'],
];

/** The field an error message concerns, when it names one. */
export function fieldErrorOf(message: string): FieldError | undefined {
  const plugin = /^failed to check the configuration of plugin ([\w-]+) err: (.*)$/s.exec(message);
  if (plugin) {
    const inner = /property "([^"]*)" validation failed/.exec(plugin[2]);
    const sub = inner ? inner[1].replace(/^\/$/, '') : '';
    return { pointer: `/plugins/${plugin[1]}${sub}`, message };
  }
  const property = /property "([^"]*)" validation failed/.exec(message);
  if (property) return { pointer: property[1] === '/' ? '' : property[1], message };
  for (const [pattern, pointer] of WORDED) {
    const m = pattern.exec(message);
    if (m) return { pointer: pointer(m), message };
  }
  return undefined;
}

/**
 * The messages a control at `pointer` shows: those naming exactly it, or (`within`) anything
 * inside it, since a list or JSON box is one control for all its items.
 */
export function errorsAt(errors: FieldErrors, pointer: string, how: 'exact' | 'within'): string[] {
  return errors.filter((e) => e.pointer === pointer || (how === 'within' && e.pointer.startsWith(`${pointer}/`))).map((e) => e.message);
}
