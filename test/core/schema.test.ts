/**
 * A running gateway compiles the schemas it ships on their first use (core/schema.ts,
 * compileOnUse), so a start pays only for the ones its routes use. These tests are what stands
 * between a shipped schema that does not compile and a user: every one of them compiles here.
 */
import { expect } from 'chai';
import { loadConfig } from '../../core/config.js';
import { PluginRegistry } from '../../core/registry.js';
import { compile, compileOnUse } from '../../core/schema.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { RESOURCE_VALIDATORS } from '../../routes/schemas.js';

describe('schemas compiled on first use', () => {
  for (const [kind, validate] of Object.entries(RESOURCE_VALIDATORS)) {
    it(`the ${kind} schema compiles`, () => {
      expect(() => validate.raw).to.not.throw();
      expect(validate.raw).to.be.a('function');
    });
  }

  it("every built-in plugin's schemas and resource schemas compile (PluginRegistry.check compiles at once)", () => {
    const config = loadConfig({ env: {} });
    for (const plugin of BUILTIN_PLUGINS) {
      expect(() => PluginRegistry.check(plugin, [], config), plugin.name).to.not.throw();
    }
  });

  it('validates, fills defaults and words errors as a validator compiled at once', () => {
    const schema = {
      type: 'object',
      additionalProperties: false,
      properties: { count: { type: 'integer', minimum: 1, default: 5 }, name: { type: 'string' } },
    };
    const now = compile(schema);
    const onUse = compileOnUse(structuredClone(schema));
    for (const value of [{}, { count: 0 }, { name: 3 }, { extra: true }, { count: 2, name: 'x' }]) {
      const a = structuredClone(value);
      const b = structuredClone(value);
      expect(onUse(b)).to.equal(now(a));
      expect(b).to.deep.equal(a);
    }
    const filled: Record<string, unknown> = {};
    expect(onUse.parse(filled)).to.deep.equal({ count: 5 });
    expect(onUse({ count: 0 })).to.equal('property "/count" validation failed: must be >= 1');
  });

  it('a schema that does not compile throws when first used, with the message compile gives at once', () => {
    const onUse = compileOnUse({ type: 'objekt' });
    let atOnce = '';
    try {
      compile({ type: 'objekt' });
    } catch (err) {
      atOnce = (err as Error).message;
    }
    expect(atOnce).to.match(/^schema is invalid: data\/type must be/);
    expect(() => onUse({})).to.throw(atOnce);
  });
});
