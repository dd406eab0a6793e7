/**
 * A JSON reader as strict as the log ingesters that refuse duplicate keys (JSON.parse keeps the
 * last value silently; RFC 8259 only says names SHOULD be unique). Returns the problems found,
 * empty when the text is one well-formed JSON value whose objects never repeat a key.
 */
export function strictJsonProblems(text: string): string[] {
  const problems: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at offset ${i}`);
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i += 1;
  };
  const string = (): string => {
    const start = i;
    if (text[i] !== '"') fail('expected a string');
    i += 1;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i += 1;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i += 1;
      const seen = new Set<string>();
      space();
      if (text[i] === '}') {
        i += 1;
        return;
      }
      for (;;) {
        space();
        const key = string();
        if (seen.has(key)) problems.push(`duplicate key "${key}" in ${path || 'the top-level object'}`);
        seen.add(key);
        space();
        if (text[i] !== ':') fail('expected ":"');
        i += 1;
        value(path ? `${path}.${key}` : key);
        space();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === '}') {
          i += 1;
          return;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i += 1;
      space();
      if (text[i] === ']') {
        i += 1;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${path}[${n}]`);
        space();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === ']') {
          i += 1;
          return;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') {
      string();
      return;
    }
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 64));
    if (!literal) fail('unexpected character');
    i += literal![0].length;
  };
  try {
    value('');
    space();
    if (i !== text.length) fail('trailing characters');
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}
