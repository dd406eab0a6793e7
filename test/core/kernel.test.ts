/**
 * docs/architecture.md's promise, checked: the core is the kernel — it imports nothing of ours
 * outside core/, and nothing in its code names a plugin (not in an import, an identifier or a
 * string). Comments may name plugins as examples; code may not. What a plugin needs from the core
 * it asks for through the contract (core/plugin.ts), so any plugin can be replaced.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT } from '../helpers/gateway.js';

function coreSources(): Array<{ file: string; code: string }> {
  const out: Array<{ file: string; code: string }> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) out.push({ file: relative(REPO_ROOT, path), code: readFileSync(path, 'utf8') });
    }
  };
  walk(join(REPO_ROOT, 'core'));
  return out;
}

/** The code without its comments (a `//` inside a string is left alone). */
function withoutComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/**
 * How code could name a plugin. A name of several words is distinctive in any spelling —
 * `mcp-bridge`, `McpBridge`, `MCP_BRIDGE` — (camelCase is left out: `requestId` is the kernel's
 * own request id, not request-id). A one-word name (`cors`, `prometheus`) is an ordinary word in a
 * path or a config key, so only the name itself as a string counts.
 */
function namings(name: string): RegExp[] {
  if (!name.includes('-')) return [new RegExp(`['"\`]${name}['"\`]`)];
  const words = name.split('-');
  const pascal = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return [name, pascal, words.join('_').toUpperCase()].map((spelling) => new RegExp(`(?<![A-Za-z0-9_-])${spelling}(?![A-Za-z0-9_-])`));
}

describe('the kernel (core/)', () => {
  const sources = coreSources();

  it('imports nothing of ours outside core/', () => {
    const outside: string[] = [];
    for (const { file, code } of sources) {
      for (const match of code.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']*)'/g)) {
        const target = relative(REPO_ROOT, resolve(REPO_ROOT, file, '..', match[1]));
        if (!target.startsWith('core')) outside.push(`${file} → ${match[1]}`);
      }
    }
    expect(outside).to.deep.equal([]);
  });

  it('names no plugin in its code: no import, identifier or string', () => {
    const named: string[] = [];
    for (const plugin of BUILTIN_PLUGINS) {
      for (const naming of namings(plugin.name)) {
        for (const { file, code } of sources) if (naming.test(withoutComments(code))) named.push(`${file}: ${plugin.name} (${naming.source})`);
      }
    }
    expect(BUILTIN_PLUGINS.length).to.be.greaterThan(15);
    expect(named).to.deep.equal([]);
  });
});
