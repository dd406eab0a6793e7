/**
 * docs/configuration.md against the configuration the gateway really has: every key of
 * conf/config.yaml (and of the schema's defaults) has a row with its real default, every row names
 * a key that exists, and every environment variable the gateway reads is documented on its key's row.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { environmentVariables, loadConfig } from '../../core/config.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT } from './demo-gateway.js';

const PAGE = readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8');

/** Dotted paths of the leaves of a config tree (arrays and null are leaves). */
function leaves(tree: Record<string, unknown>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix + key;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [p, v] of leaves(value as Record<string, unknown>, `${path}.`)) out.set(p, v);
    } else {
      out.set(path, value);
    }
  }
  return out;
}

/** How the page writes a default: strings bare (empty as ""), everything else as compact JSON. */
function shown(value: unknown): string {
  if (value === '') return '""';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Table rows whose first cell is a backquoted key: key → the row's cells. */
function rows(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of PAGE.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const key = /^`([a-z_]+(?:\.[a-z_-]+)*)`$/.exec(cells[0] ?? '')?.[1];
    if (key && cells.length >= 4) out.set(key, cells);
  }
  return out;
}

describe('docs: configuration.md', () => {
  const fromFile = leaves(parseYaml(readFileSync(join(REPO_ROOT, 'conf/config.yaml'), 'utf8')) as Record<string, unknown>);
  const defaults = leaves(loadConfig({ env: {}, plugins: BUILTIN_PLUGINS }) as unknown as Record<string, unknown>);
  const ENVIRONMENT_VARIABLES = environmentVariables(BUILTIN_PLUGINS);
  const table = rows();

  it('conf/config.yaml shows every key of the schema, with the schema default', () => {
    expect([...fromFile.keys()].sort()).to.deep.equal([...defaults.keys()].sort());
    for (const [key, value] of defaults) expect(fromFile.get(key), key).to.deep.equal(value);
  });

  it('has a row for every key, stating its real default', () => {
    for (const [key, value] of defaults) {
      const row = table.get(key);
      expect(row, `no row for \`${key}\``).to.not.equal(undefined);
      expect(row![1], `default of ${key}`).to.equal(`\`${shown(value)}\``);
      expect(row![3], `meaning of ${key}`).to.have.length.greaterThan(10);
    }
  });

  it('documents no key that does not exist', () => {
    for (const key of table.keys()) expect(defaults.has(key), `\`${key}\` is documented but is not a config key`).to.equal(true);
  });

  it('names each environment variable on the row of the key it sets', () => {
    for (const { name, key } of ENVIRONMENT_VARIABLES) {
      expect(table.get(key)?.[2], `${name} on the row of ${key}`).to.equal(`\`${name}\``);
      expect(PAGE).to.include(`| \`${name}\` | \`${key}\``);
    }
    for (const [key, row] of table) {
      if (row[2] !== '—') expect(ENVIRONMENT_VARIABLES.some((v) => v.key === key && row[2] === `\`${v.name}\``), `${key}: ${row[2]}`).to.equal(true);
    }
  });

  it('documents every TOLLGATE_* variable the gateway reads anywhere', () => {
    const sources = ['core', 'bin', 'plugins'].flatMap((dir) =>
      readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => readFileSync(join(REPO_ROOT, dir, f), 'utf8')),
    );
    const read = new Set(sources.flatMap((text) => [...text.matchAll(/\b(TOLLGATE_[A-Z_]+)\b/g)].map((m) => m[1])));
    expect(read.size).to.be.greaterThan(5);
    for (const name of read) expect(PAGE, name).to.include(`\`${name}\``);
  });
});
