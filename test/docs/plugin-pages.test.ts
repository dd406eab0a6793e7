/**
 * docs/plugins/<name>.md against the plugins themselves: every built-in plugin has a page; the
 * page names every top-level property of its route, consumer and metadata schemas, states the
 * plugin's real priority and phases, and its attribute tables agree with the schema on defaults
 * and on what is required.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PHASES, type Plugin } from '../../core/plugin.js';
import type { JsonSchema } from '../../core/schema.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT } from './demo-gateway.js';

type SchemaKind = 'schema' | 'consumerSchema' | 'metadataSchema';

interface Row {
  kind: SchemaKind;
  cells: Record<string, string>;
}

/** Rows of the page's attribute tables, each tagged with the schema its heading is about. */
function attributeRows(page: string): Row[] {
  const rows: Row[] = [];
  let kind: SchemaKind = 'schema';
  let columns: string[] | undefined;
  for (const line of page.split('\n')) {
    if (line.startsWith('#')) {
      kind = /consumer/i.test(line) ? 'consumerSchema' : /metadata/i.test(line) ? 'metadataSchema' : 'schema';
      columns = undefined;
      continue;
    }
    if (!line.startsWith('|')) {
      columns = undefined;
      continue;
    }
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (!columns) {
      columns = cells.map((c) => c.toLowerCase());
      continue;
    }
    if (cells.every((c) => /^-+$/.test(c))) continue;
    if (columns[0] !== 'name') continue;
    rows.push({ kind, cells: Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ''])) });
  }
  return rows;
}

/** The property a row documents, when its Name cell is one backquoted (possibly dotted) name. */
function propertyOf(schema: JsonSchema | undefined, name: string): { property?: JsonSchema; required: boolean } {
  let node = schema;
  let required = false;
  for (const part of name.split('.')) {
    const properties = node?.properties as Record<string, JsonSchema> | undefined;
    required = ((node?.required as string[] | undefined) ?? []).includes(part);
    node = properties?.[part];
  }
  return { property: node, required };
}

function shown(value: unknown): string {
  if (value === '') return '""';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function phasesOf(plugin: Plugin): string[] {
  return PHASES.filter((phase) => typeof plugin[phase] === 'function');
}

describe('docs: one page per built-in plugin', () => {
  for (const plugin of BUILTIN_PLUGINS) {
    describe(`docs/plugins/${plugin.name}.md`, () => {
      const file = join(REPO_ROOT, 'docs/plugins', `${plugin.name}.md`);
      const page = existsSync(file) ? readFileSync(file, 'utf8') : '';
      const schemas: Array<[SchemaKind, JsonSchema | undefined]> = [
        ['schema', plugin.schema],
        ['consumerSchema', plugin.consumerSchema],
        ['metadataSchema', plugin.metadataSchema],
      ];

      it('exists and is titled with the plugin name', () => {
        expect(page, `${file} is missing`).to.not.equal('');
        expect(page.split('\n')[0]).to.equal(`# ${plugin.name}`);
      });

      it('shows an Admin API example and says how it differs from APISIX', () => {
        expect(page).to.match(/curl -X PUT http:\/\/127\.0\.0\.1:9180\/apisix\/admin\//);
        expect(page).to.include('## Differences from APISIX');
      });

      it('names every top-level property of its schemas', () => {
        for (const [kind, schema] of schemas) {
          for (const name of Object.keys((schema?.properties as object | undefined) ?? {})) {
            // A nested property's row (`unhealthy.failures`) names its parent too.
            expect(page, `${kind} property ${name}`).to.match(new RegExp(`\`${name}[\`.]`));
          }
        }
      });

      it('states its priority and its phases', () => {
        const priority = /^\| Priority \| (.*)\|$/m.exec(page)?.[1] ?? '';
        expect(priority, 'a "| Priority | … |" row').to.match(new RegExp(`^${plugin.priority}\\b`));
        const phases = /^\| Phases? \| (.*)\|$/m.exec(page)?.[1] ?? '';
        expect(phases, 'a "| Phase(s) | … |" row').to.not.equal('');
        for (const phase of phasesOf(plugin)) expect(phases, `phase ${phase}`).to.include(`\`${phase}\``);
        for (const phase of PHASES.filter((p) => !phasesOf(plugin).includes(p))) {
          expect(phases, `the plugin has no ${phase} handler`).to.not.include(`\`${phase}\``);
        }
      });

      it('agrees with the schema on defaults and required attributes', () => {
        const rows = attributeRows(page);
        expect(rows.length, 'an attribute table (| Name | … |)').to.be.greaterThan(0);
        for (const { kind, cells } of rows) {
          const name = /^`([a-z_][a-z0-9_.]*)`$/.exec(cells.name)?.[1];
          if (!name || name === '_meta') continue;
          const schema = schemas.find(([k]) => k === kind)?.[1];
          const { property, required } = propertyOf(schema, name);
          expect(property, `${kind} has a property ${name}`).to.not.equal(undefined);
          if (cells.default !== undefined && property && 'default' in property && typeof property.default !== 'object') {
            expect(cells.default, `default of ${name}`).to.include(`\`${shown(property.default)}\``);
          }
          if (cells.default !== undefined && property && Array.isArray(property.default)) {
            expect(cells.default, `default of ${name}`).to.include(`\`${shown(property.default)}\``);
          }
          if (cells.required !== undefined) {
            if (required) expect(cells.required, `${name} is required`).to.match(/^yes/);
            else expect(cells.required, `${name} is not required`).to.not.equal('yes');
          }
        }
      });
    });
  }
});
