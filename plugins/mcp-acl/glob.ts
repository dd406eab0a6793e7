/**
 * Name patterns of access rules: `*` stands for any run of characters (none included, `/` too),
 * every other character for itself; matching is case-sensitive, as MCP names are. Matching takes
 * time linear in the name for each part of a pattern (no backtracking regex), so a long resource
 * URI cannot make a rule expensive.
 */
export class Glob {
  private readonly parts: readonly string[];

  constructor(readonly pattern: string) {
    this.parts = pattern.split('*');
  }

  matches(name: string): boolean {
    const parts = this.parts;
    if (parts.length === 1) return name === parts[0];
    const first = parts[0];
    const last = parts[parts.length - 1];
    if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false;
    // The leftmost place for each middle part leaves the most room for the rest: enough for `*` alone.
    let at = first.length;
    const end = name.length - last.length;
    for (let i = 1; i < parts.length - 1; i++) {
      const part = parts[i];
      if (part === '') continue;
      const found = name.indexOf(part, at);
      if (found < 0 || found + part.length > end) return false;
      at = found + part.length;
    }
    return true;
  }
}

/** Whether any of `globs` matches `name`. */
export function anyMatches(globs: readonly Glob[], name: string): boolean {
  for (const glob of globs) if (glob.matches(name)) return true;
  return false;
}
