/**
 * Catalog resources: a searchable, paged list for each kind, and an editor whose form is generated
 * from the resource's and its plugins' JSON Schemas, with a raw JSON editor beside it. Every save
 * is first checked by the Admin API's `POST /schema/validate/{kind}`, then written with PUT (or
 * POST, which generates an id).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, get, idOf, literalPattern, plugins, request, resourceSchema, type Envelope, type JsonSchema, type ListAnswer, type PluginInfo } from '../api.js';
import { Badge, Empty, ErrorNote, Loading, PageHeader, Pager, Tabs, useAsync } from '../components.js';
import { fieldErrorOf, errorsAt, type FieldErrors } from '../field-errors.js';
import type { KindInfo } from '../kinds.js';
import { href, navigate } from '../router.js';
import { JsonInput, SchemaForm } from '../schema-form.js';
import { maskRecord, pluginSchemaFor, restoreRecord } from '../secrets.js';
import { useCanWrite } from '../session.js';
import { ConnectPanel, isMcpRoute } from './connect.js';
import { Credentials } from './credentials.js';

export const PAGE_SIZE = 20;

type Row = Envelope<Record<string, any>>;

const pluginNames = (v: Record<string, any>) => Object.keys(v.plugins ?? {}).join(', ') || '—';

/** What each kind's list shows besides its id. */
const COLUMNS: Record<string, Array<[string, (v: Record<string, any>) => unknown]>> = {
  routes: [
    ['Name', (v) => v.name ?? '—'],
    ['URI', (v) => v.uri ?? (v.uris ?? []).join(' ')],
    ['Methods', (v) => (v.methods ?? ['any']).join(' ')],
    ['Plugins', pluginNames],
    ['Upstream', (v) => v.upstream_id ?? (v.upstream ? 'inline' : v.service_id ? `service ${v.service_id}` : '—')],
  ],
  upstreams: [
    ['Name', (v) => v.name ?? '—'],
    ['Type', (v) => v.type ?? 'roundrobin'],
    ['Nodes', (v) => (Array.isArray(v.nodes) ? v.nodes.map((n: any) => `${n.host}:${n.port ?? ''}`) : Object.keys(v.nodes ?? {})).join(', ')],
  ],
  services: [
    ['Name', (v) => v.name ?? '—'],
    ['Hosts', (v) => (v.hosts ?? []).join(', ') || '—'],
    ['Plugins', pluginNames],
    ['Upstream', (v) => v.upstream_id ?? (v.upstream ? 'inline' : '—')],
  ],
  consumers: [
    ['Description', (v) => v.desc ?? '—'],
    ['Group', (v) => v.group_id ?? '—'],
    ['Plugins', pluginNames],
  ],
  consumer_groups: [
    ['Name', (v) => v.name ?? v.desc ?? '—'],
    ['Plugins', pluginNames],
  ],
  global_rules: [['Plugins', pluginNames]],
  plugin_configs: [
    ['Name', (v) => v.name ?? v.desc ?? '—'],
    ['Plugins', pluginNames],
  ],
};

export function ResourceList({ info }: { info: KindInfo }) {
  const canWrite = useCanWrite();
  const [page, setPage] = useState(1);
  const [search, setSearch] = useState('');
  const [searchIn, setSearchIn] = useState<'name' | 'uri'>('name');
  const [query, setQuery] = useState('');
  const [actionError, setActionError] = useState<Error>();
  useEffect(() => {
    const timer = setTimeout(() => {
      setQuery(search.trim() ? `&${searchIn}=${encodeURIComponent(literalPattern(search.trim()))}` : '');
      setPage(1);
    }, 250);
    return () => clearTimeout(timer);
  }, [search, searchIn]);
  useEffect(() => {
    setPage(1);
    setSearch('');
  }, [info.kind]);
  const list = useAsync(() => get<ListAnswer>(`/${info.kind}?page=${page}&page_size=${PAGE_SIZE}${query}`), [info.kind, page, query]);
  const columns = COLUMNS[info.kind] ?? [['Name', (v: Record<string, any>) => v.name ?? '—']];

  async function act(work: () => Promise<unknown>) {
    setActionError(undefined);
    try {
      await work();
      list.reload();
    } catch (err) {
      setActionError(err as Error);
    }
  }

  return (
    <section>
      <PageHeader title={info.title}>
        {canWrite && (
          <a class="button primary" href={href(info.path, 'new')}>
            New {info.schemaName.replace(/_/g, ' ')}
          </a>
        )}
      </PageHeader>
      <div class="toolbar" role="search">
        <label for="search" class="visually-hidden">
          Search {info.title.toLowerCase()}
        </label>
        <input id="search" type="search" placeholder={`Search by ${searchIn}`} value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        {info.searchUri && (
          <select aria-label="Search in" value={searchIn} onChange={(e) => setSearchIn(e.currentTarget.value as 'name' | 'uri')}>
            <option value="name">name</option>
            <option value="uri">uri</option>
          </select>
        )}
      </div>
      <ErrorNote error={actionError} />
      <ErrorNote error={list.error} />
      {list.data && list.data.total === 0 && <Empty>{query ? 'Nothing matches.' : `No ${info.title.toLowerCase()} yet.`}</Empty>}
      {list.data && list.data.total > 0 && (
        <>
          <table class="list">
            <thead>
              <tr>
                <th scope="col">{info.idField === 'username' ? 'Username' : 'ID'}</th>
                {columns.map(([label]) => (
                  <th scope="col" key={label}>
                    {label}
                  </th>
                ))}
                {info.kind === 'routes' && <th scope="col">Status</th>}
                {canWrite && <th scope="col"><span class="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {list.data.list.map((row: Row) => {
                const id = idOf(row);
                return (
                  <tr key={row.key}>
                    <td>
                      <a href={href(info.path, id)}>{id}</a>
                    </td>
                    {columns.map(([label, cell]) => (
                      <td key={label}>{String(cell(row.value))}</td>
                    ))}
                    {info.kind === 'routes' && (
                      <td>
                        {row.value.status === 0 ? <Badge tone="idle">disabled</Badge> : <Badge tone="ok">enabled</Badge>}
                      </td>
                    )}
                    {canWrite && (
                      <td class="row-actions">
                        {info.kind === 'routes' && (
                          <button type="button" onClick={() => act(() => request('PATCH', `/routes/${encodeURIComponent(id)}`, { status: row.value.status === 0 ? 1 : 0 }))}>
                            {row.value.status === 0 ? 'Enable' : 'Disable'}
                          </button>
                        )}
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Delete ${id}`}
                          onClick={() => confirm(`Delete ${info.schemaName.replace(/_/g, ' ')} ${id}?`) && act(() => request('DELETE', `/${info.kind}/${encodeURIComponent(id)}`))}
                        >
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={setPage} />
        </>
      )}
      {!list.data && !list.error && <Loading />}
    </section>
  );
}

const SERVER_FIELDS = ['create_time', 'update_time'];

interface EditorData {
  schema: JsonSchema;
  plugins: Record<string, PluginInfo>;
  record?: Record<string, any>;
}

export function ResourceEditor({ info, id }: { info: KindInfo; id?: string }) {
  const loaded = useAsync<EditorData>(async () => {
    const [schema, all, record] = await Promise.all([
      resourceSchema(info.schemaName),
      plugins(),
      id === undefined ? Promise.resolve(undefined) : get<Envelope>(`/${info.kind}/${encodeURIComponent(id)}`).then((e) => e.value),
    ]);
    return { schema, plugins: all, record };
  }, [info.kind, id]);
  const title = `${id === undefined ? 'New' : 'Edit'} ${info.schemaName.replace(/_/g, ' ')}${id === undefined ? '' : ` ${id}`}`;
  return (
    <section>
      <PageHeader title={title}>
        <a class="button" href={href(info.path)}>
          Back to {info.title.toLowerCase()}
        </a>
      </PageHeader>
      <ErrorNote error={loaded.error} />
      {/* Mounted once the record is in: the editor's state starts from it. */}
      {loaded.data && !loaded.loading ? <Editor key={`${info.kind}/${id}`} info={info} id={id} data={loaded.data} /> : !loaded.error && <Loading />}
    </section>
  );
}

function withoutServerFields(value: Record<string, any>): Record<string, any> {
  const out = { ...value };
  for (const field of SERVER_FIELDS) delete out[field];
  return out;
}

function Editor({ info, id, data }: { info: KindInfo; id?: string; data: EditorData }) {
  const canWrite = useCanWrite();
  const consumerPlugins = !!info.consumerPlugins;
  const original = data.record ? withoutServerFields(data.record) : undefined;
  const [value, setValue] = useState<Record<string, any>>(() => maskRecord(original ?? {}, data.plugins, consumerPlugins));
  const [newId, setNewId] = useState('');
  const [tab, setTab] = useState<'form' | 'json'>('form');
  const [jsonText, setJsonText] = useState('');
  const [jsonProblem, setJsonProblem] = useState<string>();
  const [errors, setErrors] = useState<FieldErrors>([]);
  const [message, setMessage] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const hasPlugins = !!data.schema.properties?.plugins;

  function switchTab(next: 'form' | 'json') {
    if (next === tab) return;
    if (next === 'json') {
      setJsonText(JSON.stringify(value, null, 2));
      setJsonProblem(undefined);
    } else {
      const parsed = parseJson(jsonText);
      if ('problem' in parsed) return setJsonProblem(parsed.problem);
      setValue(parsed.value);
    }
    setTab(next);
  }

  function parseJson(text: string): { value: Record<string, any> } | { problem: string } {
    try {
      const parsed = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { problem: 'The JSON must be an object.' };
      return { value: parsed };
    } catch (err) {
      return { problem: `Not valid JSON: ${(err as Error).message}` };
    }
  }

  /** The record to send: the form's (or the JSON's) value with the stored secrets back in place of masks. */
  function body(): Record<string, any> | undefined {
    let current = value;
    if (tab === 'json') {
      const parsed = parseJson(jsonText);
      if ('problem' in parsed) {
        setJsonProblem(parsed.problem);
        return undefined;
      }
      current = parsed.value;
      setValue(current);
    }
    return restoreRecord(withoutServerFields(current), original, data.plugins, consumerPlugins);
  }

  async function save() {
    const record = body();
    if (!record) return;
    setBusy(true);
    setErrors([]);
    setMessage(undefined);
    setNotice(undefined);
    const targetId = id ?? (newId.trim() || undefined);
    if (targetId !== undefined) record[info.idField] = targetId;
    try {
      // The Admin API checks it as a write would, without storing anything.
      await request('POST', `/schema/validate/${info.kind}`, record);
      if (targetId === undefined) {
        if (!info.canPost) throw new ApiError(400, `missing ${info.schemaName.replace(/_/g, ' ')} ${info.idField}`, undefined);
        const created = await request<Envelope>('POST', `/${info.kind}`, record);
        navigate(`/${info.path}/${encodeURIComponent(idOf(created))}${info.kind === 'mcp_servers' ? '/edit' : ''}`);
      } else {
        const { [info.idField]: _drop, ...rest } = record;
        await request('PUT', `/${info.kind}/${encodeURIComponent(targetId)}`, rest);
        if (id === undefined) navigate(`/${info.path}/${encodeURIComponent(targetId)}${info.kind === 'mcp_servers' ? '/edit' : ''}`);
        else setNotice('Saved.');
      }
    } catch (err) {
      const error = err as ApiError;
      const field = fieldErrorOf(error.message);
      setErrors(field ? [field] : []);
      setMessage(error.message);
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!id || !confirm(`Delete ${info.schemaName.replace(/_/g, ' ')} ${id}?`)) return;
    try {
      await request('DELETE', `/${info.kind}/${encodeURIComponent(id)}`);
      navigate(`/${info.path}`);
    } catch (err) {
      setMessage((err as Error).message);
    }
  }

  const idErrors = errorsAt(errors, `/${info.idField}`, 'exact');
  return (
    <form
      class="editor"
      onSubmit={(e) => {
        e.preventDefault();
        if (canWrite) save();
      }}
    >
      {!canWrite && <p class="note">Read-only: you are signed in with a viewer key. Secrets are shown masked.</p>}
      {message && (
        <div class="error-note" role="alert" data-testid="save-error">
          {message}
        </div>
      )}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <Tabs
        label="Editor"
        tabs={[
          ['form', 'Form'],
          ['json', 'JSON'],
        ]}
        current={tab}
        onChange={switchTab}
      />
      {tab === 'form' ? (
        <div role="tabpanel" aria-labelledby="tab-form">
          {id === undefined && (
            <div class={`field${idErrors.length ? ' has-error' : ''}`} data-field={`/${info.idField}`}>
              <label for="record-id">
                {info.idField}
                {!info.canPost && <span class="req">*</span>}
              </label>
              <input id="record-id" value={newId} autocomplete="off" required={!info.canPost} onInput={(e) => setNewId(e.currentTarget.value)} disabled={!canWrite} />
              <p class="help">{info.canPost ? 'Leave empty to have one generated.' : `The ${info.idField} of the new ${info.schemaName.replace(/_/g, ' ')}.`}</p>
              {idErrors.length > 0 && <p class="field-error">{idErrors.join('; ')}</p>}
            </div>
          )}
          <SchemaForm schema={data.schema} value={value} onChange={setValue} errors={errors} readOnly={!canWrite} skip={[info.idField, 'id', 'plugins', ...SERVER_FIELDS]} />
          {hasPlugins && (
            <PluginsEditor
              value={value.plugins}
              onChange={(next) => setValue((v) => (next ? { ...v, plugins: next } : (({ plugins: _p, ...rest }) => rest)(v)))}
              errors={errors}
              info={data.plugins}
              consumerPlugins={consumerPlugins}
              readOnly={!canWrite}
            />
          )}
        </div>
      ) : (
        <div role="tabpanel" aria-labelledby="tab-json">
          <label for="raw-json">The whole {info.schemaName.replace(/_/g, ' ')} as JSON (secrets masked; a mask left as it is keeps the stored value)</label>
          <textarea
            id="raw-json"
            class="json"
            rows={24}
            spellcheck={false}
            value={jsonText}
            disabled={!canWrite}
            aria-invalid={jsonProblem ? true : undefined}
            onInput={(e) => {
              setJsonText(e.currentTarget.value);
              const parsed = parseJson(e.currentTarget.value);
              setJsonProblem('problem' in parsed ? parsed.problem : undefined);
            }}
          />
          {jsonProblem && <p class="field-error">{jsonProblem}</p>}
        </div>
      )}
      {canWrite && (
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy || (tab === 'json' && !!jsonProblem)}>
            {busy ? 'Saving…' : 'Save'}
          </button>
          {id !== undefined && (
            <button type="button" class="danger" onClick={remove}>
              Delete
            </button>
          )}
        </div>
      )}
      {info.kind === 'routes' && id !== undefined && original && isMcpRoute(original) && <ConnectPanel route={original} routeId={id} />}
      {info.kind === 'consumers' && id !== undefined && <Credentials username={id} info={data.plugins} />}
    </form>
  );
}

/** A record's `plugins`: one generated form per plugin, and a picker to add one. */
export function PluginsEditor({
  value,
  onChange,
  errors,
  info,
  consumerPlugins,
  readOnly,
  authOnly = false,
}: {
  value: Record<string, any> | undefined;
  onChange: (next: Record<string, any> | undefined) => void;
  errors: FieldErrors;
  info: Record<string, PluginInfo>;
  consumerPlugins: boolean;
  readOnly: boolean;
  authOnly?: boolean;
}) {
  const configured = value ?? {};
  const available = useMemo(
    () => Object.keys(info).filter((name) => !(name in configured) && (!authOnly || info[name].type === 'auth')).sort(),
    [info, configured, authOnly],
  );
  const [adding, setAdding] = useState('');
  const pluginErrors = errorsAt(errors, '/plugins', 'exact');
  return (
    <fieldset class="plugins" data-field="/plugins">
      <legend>Plugins</legend>
      {pluginErrors.length > 0 && <p class="field-error">{pluginErrors.join('; ')}</p>}
      {Object.keys(configured).length === 0 && <p class="muted">No plugins.</p>}
      {Object.entries(configured).map(([name, conf]) => {
        const schema = pluginSchemaFor(name, info, consumerPlugins);
        const pointer = `/plugins/${name}`;
        const own = errorsAt(errors, pointer, 'exact');
        return (
          <details class="plugin" open key={name} data-plugin={name}>
            <summary>
              <span class="plugin-name">{name}</span>
              {info[name]?.type === 'auth' && <Badge tone="info">auth</Badge>}
            </summary>
            {own.length > 0 && <p class="field-error" role="alert">{own.join('; ')}</p>}
            {schema ? (
              <SchemaForm
                schema={schema}
                value={conf ?? {}}
                pointer={pointer}
                errors={errors}
                readOnly={readOnly}
                onChange={(next) => onChange({ ...configured, [name]: next })}
              />
            ) : (
              <JsonInput common={{ 'aria-label': `${name} configuration (JSON)`, disabled: readOnly }} value={conf} onChange={(next) => onChange({ ...configured, [name]: next ?? {} })} />
            )}
            {!readOnly && (
              <button
                type="button"
                class="danger small"
                onClick={() => {
                  const { [name]: _drop, ...rest } = configured;
                  onChange(Object.keys(rest).length ? rest : undefined);
                }}
              >
                Remove {name}
              </button>
            )}
          </details>
        );
      })}
      {!readOnly && (
        <div class="add-plugin">
          <label for="add-plugin">Add a plugin</label>
          <select id="add-plugin" value={adding} onChange={(e) => setAdding(e.currentTarget.value)}>
            <option value="">Choose…</option>
            {available.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
          <button
            type="button"
            disabled={!adding}
            onClick={() => {
              onChange({ ...configured, [adding]: {} });
              setAdding('');
            }}
          >
            Add
          </button>
        </div>
      )}
    </fieldset>
  );
}
