/**
 * MCP servers (`/apisix/admin/mcp_servers`): the list with each server's state, and a page per
 * server — its status, live sessions (ended from here as a client's DELETE would end them), the
 * tail of its stderr that follows as lines arrive, what it offers (tools, prompts, resources),
 * which consumer may call which tool under mcp-acl, and how to connect a client to each route
 * that serves it.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, idOf, plugins, request, type Envelope, type ListAnswer } from '../api.js';
import { Badge, Empty, ErrorNote, Loading, PageHeader, Pager, Tabs, formatTime, useAsync, useInterval } from '../components.js';
import { authenticates, mayCall, restrictionAllows, routeAcl, routePlugins, rulesFor } from '../acl.js';
import { href, navigate } from '../router.js';
import { useCanWrite } from '../session.js';
import { ConnectPanel } from './connect.js';
import { PAGE_SIZE } from './resources.js';

export function stateTone(state: string | undefined): 'ok' | 'warn' | 'bad' | 'idle' {
  return state === 'ready' ? 'ok' : state === 'degraded' ? 'warn' : state === 'failing' ? 'bad' : 'idle';
}

export function McpServerList() {
  const canWrite = useCanWrite();
  const [page, setPage] = useState(1);
  const list = useAsync(async () => {
    const answer = await get<ListAnswer>(`/mcp_servers?page=${page}&page_size=${PAGE_SIZE}`);
    const statuses = await Promise.all(answer.list.map((row) => get(`/mcp_servers/${encodeURIComponent(idOf(row))}/status`).catch((err: Error) => ({ error: err.message }))));
    return { ...answer, statuses };
  }, [page]);
  useInterval(() => list.data && list.reload(), 5000, [page]);
  return (
    <section>
      <PageHeader title="MCP servers">
        {canWrite && (
          <a class="button primary" href={href('mcp', 'new')}>
            New MCP server
          </a>
        )}
      </PageHeader>
      <ErrorNote error={list.error} />
      {list.data?.total === 0 && <Empty>No MCP servers in the catalog. Routes with an inline mcp-bridge command are listed under Routes.</Empty>}
      {list.data && list.data.total > 0 && (
        <>
          <table class="list">
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">State</th>
                <th scope="col">Sessions</th>
                <th scope="col">Crashes</th>
                <th scope="col">Server</th>
              </tr>
            </thead>
            <tbody>
              {list.data.list.map((row, i) => {
                const id = idOf(row);
                const status: any = list.data!.statuses[i];
                return (
                  <tr key={row.key}>
                    <td>
                      <a href={href('mcp', id)}>{id}</a>
                    </td>
                    <td>{row.value.name ?? '—'}</td>
                    <td>{row.value.url ? 'remote' : 'stdio'}</td>
                    <td>{status.error ? <Badge tone="bad">{status.error}</Badge> : <Badge tone={stateTone(status.state)}>{status.state}</Badge>}</td>
                    <td>{status.sessions ?? '—'}</td>
                    <td>{status.crashes ?? '—'}</td>
                    <td>{status.server_info ? `${status.server_info.name} ${status.server_info.version ?? ''}` : '—'}</td>
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

type Tab = 'status' | 'sessions' | 'logs' | 'offers' | 'access' | 'connect';

const TABS: ReadonlyArray<readonly [Tab, string]> = [
  ['status', 'Status'],
  ['sessions', 'Sessions'],
  ['logs', 'Log'],
  ['offers', 'Tools, prompts, resources'],
  ['access', 'Who may call what'],
  ['connect', 'Connect'],
];

export function McpServerPage({ id, tab }: { id: string; tab?: string }) {
  const canWrite = useCanWrite();
  const current = (TABS.find(([t]) => t === tab)?.[0] ?? 'status') as Tab;
  const record = useAsync(() => get<Envelope>(`/mcp_servers/${encodeURIComponent(id)}`), [id]);
  const routes = useAsync(() => routesUsing(id), [id]);
  return (
    <section>
      <PageHeader title={`MCP server ${record.data?.value.name ?? id}`}>
        <a class="button" href={href('mcp')}>
          All MCP servers
        </a>
        <a class="button" href={href('mcp', id, 'edit')}>
          {canWrite ? 'Edit definition' : 'Definition'}
        </a>
      </PageHeader>
      <ErrorNote error={record.error} />
      <Tabs label="MCP server" tabs={TABS} current={current} onChange={(t) => navigate(`/mcp/${encodeURIComponent(id)}/${t}`)} />
      <div role="tabpanel" aria-labelledby={`tab-${current}`} class="tabpanel">
        {current === 'status' && <Status id={id} record={record.data?.value} routes={routes.data} />}
        {current === 'sessions' && <Sessions id={id} />}
        {current === 'logs' && <Logs id={id} />}
        {current === 'offers' && <Offers id={id} />}
        {current === 'access' && <Access id={id} routes={routes.data} />}
        {current === 'connect' &&
          (routes.data?.length === 0 ? (
            <Empty>No route serves this server yet: add a route with mcp-bridge and server_id "{id}".</Empty>
          ) : (
            routes.data?.map((r) => <ConnectPanel key={r.id} route={r.value} routeId={r.id} />)
          ))}
      </div>
    </section>
  );
}

interface RouteUse {
  id: string;
  value: Record<string, any>;
}

/** Every record of `kind`, page by page (the API pages at most 500 at a time). */
async function everything(kind: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (let page = 1; ; page++) {
    const answer = await get<ListAnswer>(`/${kind}?page=${page}&page_size=500`);
    out.push(...answer.list);
    if (out.length >= answer.total || answer.list.length === 0) return out;
  }
}

function servesServer(plugins: Record<string, any> | undefined, id: string): boolean {
  if (plugins?.['mcp-bridge']?.server_id !== undefined && String(plugins['mcp-bridge'].server_id) === id) return true;
  const federated = plugins?.['mcp-federation']?.servers;
  return Array.isArray(federated) && federated.some((s: any) => String(s?.server_id) === id);
}

async function routesUsing(id: string): Promise<RouteUse[]> {
  const routes = await everything('routes');
  return routes.filter((r) => servesServer(r.value.plugins, id)).map((r) => ({ id: idOf(r), value: r.value }));
}

function Status({ id, record, routes }: { id: string; record?: Record<string, any>; routes?: RouteUse[] }) {
  const [status, setStatus] = useState<any>();
  const [error, setError] = useState<Error>();
  useInterval(() => {
    get(`/mcp_servers/${encodeURIComponent(id)}/status`).then((s) => (setStatus(s), setError(undefined)), setError);
  }, 2000, [id]);
  return (
    <>
      <ErrorNote error={error} />
      {status && (
        <dl class="facts" data-testid="mcp-status">
          <dt>State</dt>
          <dd>
            <Badge tone={stateTone(status.state)}>{status.state}</Badge>
          </dd>
          <dt>Kind</dt>
          <dd>{status.kind}{record?.url ? ` · ${record.url}` : record?.command ? ` · ${record.command}` : ''}</dd>
          <dt>Live sessions</dt>
          <dd>{status.sessions}</dd>
          <dt>Running children</dt>
          <dd>{status.children}</dd>
          <dt>Starts / crashes</dt>
          <dd>
            {status.starts} / {status.crashes}
          </dd>
          <dt>Server</dt>
          <dd>{status.server_info ? `${status.server_info.name} ${status.server_info.version ?? ''} (protocol ${status.protocol_version})` : 'not initialized yet'}</dd>
          <dt>Last exit</dt>
          <dd>{status.last_exit ? `code ${status.last_exit.code ?? '—'}${status.last_exit.signal ? `, ${status.last_exit.signal}` : ''}${status.last_exit.requested ? ' (stopped by the gateway)' : ''} at ${formatTime(status.last_exit.time)}` : '—'}</dd>
          <dt>Last error</dt>
          <dd>{status.last_error ? `${status.last_error.message} (${formatTime(status.last_error.time)})` : '—'}</dd>
          {status.health && (
            <>
              <dt>Health check</dt>
              <dd>{status.health.ok ? `ok, ${status.health.latency_ms} ms` : `failing: ${status.health.error ?? ''}`}</dd>
            </>
          )}
          {status.kind === 'remote' && (
            <>
              <dt>Speaks</dt>
              <dd>{status.era === '2026-07-28' ? 'MCP 2026-07-28: modern requests go to it as they are' : status.era === '2025' ? 'MCP 2025 revisions: modern requests are translated' : 'not known yet'}</dd>
            </>
          )}
          <dt>Instance</dt>
          <dd>{status.instance}</dd>
          <dt>Routes</dt>
          <dd>
            {routes?.length
              ? routes.map((r, i) => (
                  <span key={r.id}>
                    {i > 0 && ', '}
                    <a href={href('routes', r.id)}>{r.id}</a>
                  </span>
                ))
              : 'none'}
          </dd>
        </dl>
      )}
    </>
  );
}

function Sessions({ id }: { id: string }) {
  const canWrite = useCanWrite();
  const [sessions, setSessions] = useState<any>();
  const [error, setError] = useState<Error>();
  const [notice, setNotice] = useState<string>();
  const load = () => get(`/mcp_servers/${encodeURIComponent(id)}/sessions`).then((s) => (setSessions(s), setError(undefined)), setError);
  useInterval(load, 2000, [id]);
  return (
    <>
      <ErrorNote error={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {sessions && sessions.total === 0 && <Empty>No live sessions on {sessions.instance}.</Empty>}
      {sessions && sessions.total > 0 && (
        <table class="list" data-testid="sessions">
          <thead>
            <tr>
              <th scope="col">Session</th>
              <th scope="col">Route</th>
              <th scope="col">Consumer</th>
              <th scope="col">Transport</th>
              <th scope="col">Protocol</th>
              <th scope="col">Opened</th>
              <th scope="col">Last active</th>
              <th scope="col">Calls</th>
              <th scope="col">Process</th>
              {canWrite && <th scope="col"><span class="visually-hidden">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {sessions.list.map((s: any) => (
              <tr key={s.id} data-session={s.id}>
                <td>
                  <code title={s.id}>{s.id.slice(0, 10)}…</code>
                </td>
                <td>
                  <a href={href('routes', s.route)}>{s.route}</a>
                </td>
                <td>{s.consumer ?? 'anonymous'}</td>
                <td>{s.transport}</td>
                <td>{s.protocol_version ?? '—'}</td>
                <td>{formatTime(s.created)}</td>
                <td>{formatTime(s.last_active)}</td>
                <td>{s.calls}</td>
                <td>{s.child_pid ?? s.backend ?? '—'}</td>
                {canWrite && (
                  <td class="row-actions">
                    <button
                      type="button"
                      class="danger"
                      aria-label={`End session ${s.id.slice(0, 10)}`}
                      onClick={() =>
                        confirm('End this session? Its client gets 404 and must initialize again.') &&
                        request('DELETE', `/mcp_servers/${encodeURIComponent(id)}/sessions/${encodeURIComponent(s.id)}`).then(
                          () => (setNotice(`Session ${s.id.slice(0, 10)}… ended.`), load()),
                          setError,
                        )
                      }
                    >
                      End session
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!sessions && !error && <Loading />}
    </>
  );
}

function Logs({ id }: { id: string }) {
  const [lines, setLines] = useState<Array<{ time: string; session: string; line: string }>>([]);
  const [error, setError] = useState<Error>();
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  const record = useAsync(() => get<Envelope>(`/mcp_servers/${encodeURIComponent(id)}`), [id]);
  const kept = Math.max(1, Math.min(500, record.data?.value.log_lines ?? 200));
  useInterval(
    () => {
      if (!follow || !record.data) return;
      get(`/mcp_servers/${encodeURIComponent(id)}/logs?lines=${kept}`).then((answer) => (setLines(answer.lines), setError(undefined)), setError);
    },
    1000,
    [id, follow, kept, !!record.data],
  );
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  return (
    <>
      <div class="toolbar">
        <label class="check">
          <input type="checkbox" checked={follow} onChange={() => setFollow(!follow)} /> Follow (new lines every second)
        </label>
        <span class="muted">The last {kept} lines of the server's stderr on this instance.</span>
      </div>
      <ErrorNote error={error ?? record.error} />
      <pre class="log" ref={box} tabIndex={0} aria-label="Server log" data-testid="log">
        {lines.length === 0 ? <span class="muted">Nothing printed yet.</span> : lines.map((l, i) => <LogLine key={i} line={l} />)}
      </pre>
    </>
  );
}

function LogLine({ line }: { line: { time: string; session: string; line: string } }) {
  return (
    <div>
      <span class="muted">{line.time?.slice(11, 23)} </span>
      <span class="muted">[{String(line.session).slice(0, 8)}] </span>
      {line.line}
    </div>
  );
}

function Offers({ id }: { id: string }) {
  const [kind, setKind] = useState<'tools' | 'prompts' | 'resources'>('tools');
  const offered = useAsync(() => get(`/mcp_servers/${encodeURIComponent(id)}/${kind}`), [id, kind]);
  const items: any[] = offered.data?.[kind] ?? [];
  return (
    <>
      <Tabs
        label="What the server offers"
        tabs={[
          ['tools', 'Tools'],
          ['prompts', 'Prompts'],
          ['resources', 'Resources'],
        ]}
        current={kind}
        onChange={setKind}
      />
      <ErrorNote error={offered.error} />
      {offered.loading && <Loading />}
      {offered.data && (
        <p class="muted small">
          {offered.data.source === 'probe' ? 'From a probe session the gateway opened just now' : 'The latest list a session received'} ({formatTime(offered.data.time)})
          {offered.data.complete === false ? '; more pages exist' : ''}.
        </p>
      )}
      {offered.data && items.length === 0 && <Empty>None.</Empty>}
      {items.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">{kind === 'resources' ? 'URI' : 'Name'}</th>
              <th scope="col">Description</th>
              {kind === 'tools' && <th scope="col">Arguments</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.name ?? item.uri}>
                <td>
                  <code>{kind === 'resources' ? item.uri : item.name}</code>
                  {item.title && <div class="muted">{item.title}</div>}
                </td>
                <td>{item.description ?? ''}</td>
                {kind === 'tools' && <td>{Object.keys(item.inputSchema?.properties ?? {}).join(', ') || '—'}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

const AUTH_PLUGINS_HINT = 'key-auth, jwt-auth, openid-connect…';
/** Plugins this table already accounts for, or that never refuse a request. */
const NOT_REFUSING = new Set(['mcp-acl', 'mcp-bridge', 'mcp-federation', 'consumer-restriction', 'prometheus', 'request-id', 'file-logger', 'http-logger', 'proxy-rewrite', 'response-rewrite', 'cors']);

/** Tools × consumers: who may call what, per route serving the server. */
function Access({ id, routes }: { id: string; routes?: RouteUse[] }) {
  const [routeId, setRouteId] = useState<string>();
  // Tool names as the route's clients see them (a federation prefixes them).
  const [filter, setFilter] = useState('');
  const data = useAsync(async () => {
    const [all, tools, consumers, groups, services, configs] = await Promise.all([
      plugins(),
      get(`/mcp_servers/${encodeURIComponent(id)}/tools`),
      everything('consumers'),
      everything('consumer_groups'),
      everything('services'),
      everything('plugin_configs'),
    ]);
    return { all, tools: (tools.tools ?? []) as any[], consumers, groups, services, configs };
  }, [id]);
  const route = routes?.find((r) => r.id === routeId) ?? routes?.[0];
  const view = useMemo(() => {
    if (!data.data || !route) return undefined;
    const { all, consumers, groups, services, configs } = data.data;
    const byId = (list: Envelope[], wanted: unknown) => list.find((e) => idOf(e) === String(wanted))?.value;
    const sources = { route: route.value, service: byId(services, route.value.service_id), pluginConfig: byId(configs, route.value.plugin_config_id) };
    const running = routePlugins(sources);
    const authenticated = authenticates(running, all);
    const acl = routeAcl(sources);
    const columns = authenticated
      ? consumers
          .filter((c) => idOf(c).toLowerCase().includes(filter.toLowerCase()))
          .slice(0, 40)
          .map((c) => {
            const group = byId(groups, c.value.group_id);
            return { name: idOf(c), rules: rulesFor(acl, c.value, group), restricted: !restrictionAllows({ ...sources, routeId: route.id }, c.value, group) };
          })
      : [{ name: 'every client', rules: rulesFor(acl, undefined, undefined), restricted: !restrictionAllows({ ...sources, routeId: route.id }, undefined, undefined) }];
    // What else runs on the route and may refuse a call the table allows (limits, IP rules…).
    const others = Object.keys(running).filter((name) => !NOT_REFUSING.has(name) && all[name]?.type !== 'auth');
    // Through a federation the client (and so mcp-acl) sees the server's tools under its prefix.
    const federation = route.value.plugins?.['mcp-federation'];
    const member = Array.isArray(federation?.servers) ? federation.servers.find((s: any) => String(s?.server_id) === id) : undefined;
    const clientName = (tool: string) => (member ? `${member.prefix}${federation.separator ?? '_'}${tool}` : tool);
    return { authenticated, acl, columns, aclLoaded: 'mcp-acl' in all, clientName, others, restriction: 'consumer-restriction' in running };
  }, [data.data, route, filter]);

  if (routes && routes.length === 0) return <Empty>No route serves this server, so nobody can call its tools.</Empty>;
  return (
    <>
      <ErrorNote error={data.error} />
      {(!data.data || !routes) && !data.error && <Loading />}
      {view && data.data && route && (
        <>
          <div class="toolbar">
            {routes!.length > 1 && (
              <label>
                Route{' '}
                <select value={route.id} onChange={(e) => setRouteId(e.currentTarget.value)}>
                  {routes!.map((r) => (
                    <option key={r.id} value={r.id}>
                      {r.id}
                    </option>
                  ))}
                </select>
              </label>
            )}
            {view.authenticated && (
              <input type="search" aria-label="Filter consumers" placeholder="Filter consumers" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
            )}
          </div>
          <p class="muted small">
            {!view.aclLoaded
              ? 'mcp-acl is not loaded: every client of the route may call every tool.'
              : view.acl
                ? `Route ${route.id} has mcp-acl rules; a consumer's own rules (or its group's) replace its allow lists, and the route's deny lists hold unless the consumer's own mcp-acl is disabled.`
                : `Route ${route.id} has no mcp-acl rules of its own; consumers' own rules apply.`}{' '}
            {!view.authenticated && `The route authenticates nobody (no ${AUTH_PLUGINS_HINT}), so every client is treated alike.`} OAuth scopes can allow more; this
            shows clients without scopes.
            {view.restriction && ' consumer-restriction on the route is taken into account: a consumer it refuses may call nothing.'}
          </p>
          <p class="muted small" data-testid="acl-others">
            {view.others.length > 0 && `Also on this route, and not reflected here: ${view.others.join(', ')}. They run too and can refuse a call this table allows. `}
            Global rules, and consumers' own plugins other than mcp-acl and consumer-restriction, are not judged here.
          </p>
          {data.data.tools.length === 0 ? (
            <Empty>The server offers no tools.</Empty>
          ) : (
            <div class="matrix-wrap">
              <table class="list matrix" data-testid="acl-matrix">
                <thead>
                  <tr>
                    <th scope="col">Tool</th>
                    {view.columns.map((c) => (
                      <th scope="col" key={c.name} title={c.restricted ? 'refused by consumer-restriction' : undefined}>
                        {c.name}
                        {c.restricted && <span class="muted"> (restricted)</span>}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {data.data.tools.map((tool) => (
                    <tr key={tool.name}>
                      <th scope="row">
                        <code>{view.clientName(tool.name)}</code>
                      </th>
                      {view.columns.map((c) => {
                        const ok = !c.restricted && mayCall(c.rules, view.clientName(tool.name));
                        return (
                          <td key={c.name} class={ok ? 'allowed' : 'denied'} aria-label={`${c.name} ${ok ? 'may' : 'may not'} call ${view.clientName(tool.name)}`}>
                            {ok ? '✓' : '✕'}
                          </td>
                        );
                      })}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}
