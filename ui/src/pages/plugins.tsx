/**
 * The loaded plugins and what each takes: its description, priority and type, and every field
 * of its route, consumer and metadata schemas with their types, defaults and descriptions (the
 * same text docs/plugins/<name>.md is written from).
 */
import { get, plugins, type JsonSchema } from '../api.js';
import { Badge, ErrorNote, Loading, PageHeader, useAsync } from '../components.js';
import { href } from '../router.js';

export function PluginList() {
  const all = useAsync(() => Promise.all([plugins(), get<any>('/plugins/status').catch(() => undefined)]), []);
  const statusOf = (name: string) => all.data?.[1]?.list?.find((s: any) => s.name === name);
  return (
    <section>
      <PageHeader title="Plugins" />
      <ErrorNote error={all.error} />
      {!all.data && !all.error && <Loading />}
      {all.data && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Priority</th>
              <th scope="col">Version</th>
              <th scope="col">Source</th>
              <th scope="col">What it does</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(all.data[0])
              .sort(([, a], [, b]) => b.priority - a.priority)
              .map(([name, info]) => {
                const status = statusOf(name);
                return (
                  <tr key={name}>
                    <td>
                      <a href={href('plugins', name)}>{name}</a> {info.type === 'auth' && <Badge tone="info">auth</Badge>}
                      {status?.error && <Badge tone="bad">load failed</Badge>}
                    </td>
                    <td>{info.priority}</td>
                    <td>{info.version}</td>
                    <td>{status?.source ?? '—'}</td>
                    <td>{(info as any).description ?? '—'}</td>
                  </tr>
                );
              })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function PluginPage({ name }: { name: string }) {
  const all = useAsync(() => plugins(), []);
  const info = all.data?.[name];
  return (
    <section>
      <PageHeader title={`Plugin ${name}`}>
        <a class="button" href={href('plugins')}>
          All plugins
        </a>
      </PageHeader>
      <ErrorNote error={all.error} />
      {all.data && !info && <ErrorNote error={`No plugin ${name} is loaded.`} />}
      {info && (
        <>
          <p>{(info as any).description}</p>
          <dl class="facts">
            <dt>Priority</dt>
            <dd>{info.priority}</dd>
            <dt>Version</dt>
            <dd>{info.version}</dd>
            {info.type && (
              <>
                <dt>Type</dt>
                <dd>{info.type}</dd>
              </>
            )}
            <dt>Documentation</dt>
            <dd>
              <code>docs/plugins/{name}.md</code> in the Tollgate repository
            </dd>
          </dl>
          <SchemaDoc title="Configuration on a route, service, plugin config or global rule" schema={info.schema} />
          {info.consumer_schema && <SchemaDoc title="Configuration on a consumer or credential" schema={info.consumer_schema} />}
          {info.metadata_schema && <SchemaDoc title="Plugin metadata (gateway-wide settings)" schema={info.metadata_schema} />}
        </>
      )}
    </section>
  );
}

function typeOf(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((v: unknown) => JSON.stringify(v)).join(', ')}`;
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
  if (type === 'array') return `array of ${schema.items ? typeOf(schema.items) : 'anything'}`;
  if (type) return type;
  if (schema.oneOf || schema.anyOf) return (schema.oneOf ?? schema.anyOf).map(typeOf).join(' | ');
  return 'any';
}

function SchemaDoc({ title, schema }: { title: string; schema: JsonSchema }) {
  const required = new Set<string>(schema.required ?? []);
  const rows: Array<[string, JsonSchema]> = [];
  const walk = (properties: Record<string, JsonSchema> | undefined, prefix: string) => {
    for (const [field, sub] of Object.entries(properties ?? {})) {
      rows.push([prefix + field, sub]);
      if (sub.properties && prefix.split('.').length < 3) walk(sub.properties, `${prefix}${field}.`);
    }
  };
  walk(schema.properties, '');
  return (
    <section>
      <h2>{title}</h2>
      <table class="list schema-doc">
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Type</th>
            <th scope="col">Default</th>
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([field, sub]) => (
            <tr key={field}>
              <td>
                <code>{field}</code>
                {required.has(field) && <span class="req" aria-label="required">*</span>}
                {sub.writeOnly && <Badge tone="warn">secret</Badge>}
              </td>
              <td>{typeOf(sub)}</td>
              <td>{sub.default === undefined ? '—' : <code>{JSON.stringify(sub.default)}</code>}</td>
              <td>{sub.description ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details>
        <summary>JSON Schema</summary>
        <pre class="schema-json">{JSON.stringify(schema, null, 2)}</pre>
      </details>
    </section>
  );
}
