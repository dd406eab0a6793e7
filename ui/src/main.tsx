/**
 * The Tollgate dashboard: sign-in, the navigation, and which page each location shows.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { request, storeKey, storedKey, whenKeyRejected, type Role } from './api.js';
import { ErrorNote } from './components.js';
import { KINDS } from './kinds.js';
import { href, useLocation } from './router.js';
import { SessionContext, type Session } from './session.js';
import { Overview } from './pages/overview.js';
import { ResourceList, ResourceEditor } from './pages/resources.js';
import { PluginList, PluginPage } from './pages/plugins.js';
import { McpServerList, McpServerPage } from './pages/mcp.js';

interface WhoAmI {
  name: string;
  role: Role;
  data_plane?: string;
}

function sessionOf(who: WhoAmI): Session {
  return { name: who.name, role: who.role, dataPlane: who.data_plane };
}

function SignIn({ onSignedIn, reason }: { onSignedIn: (session: Session) => void; reason?: string }) {
  const [error, setError] = useState<string | undefined>(reason);
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const key = String(new FormData(e.currentTarget as HTMLFormElement).get('key') ?? '');
          setBusy(true);
          setError(undefined);
          try {
            const who = await request<WhoAmI>('GET', '/whoami', undefined, key);
            storeKey(key);
            onSignedIn(sessionOf(who));
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>Tollgate</h1>
        <p class="muted">Sign in with an Admin API key. It stays in this tab only and is sent as the X-API-KEY header.</p>
        <label for="admin-key">Admin key</label>
        <input id="admin-key" name="key" type="password" autocomplete="off" required autofocus />
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

const NAV: Array<[string, string]> = [
  ['', 'Overview'],
  ['routes', 'Routes'],
  ['upstreams', 'Upstreams'],
  ['services', 'Services'],
  ['consumers', 'Consumers'],
  ['consumer_groups', 'Consumer groups'],
  ['global_rules', 'Global rules'],
  ['plugin_configs', 'Plugin configs'],
  ['plugins', 'Plugins'],
  ['mcp', 'MCP servers'],
];

function Page({ path }: { path: string }) {
  const [section = '', id, extra] = path.split('/').filter(Boolean);
  if (section === '') return <Overview />;
  if (section === 'plugins') return id ? <PluginPage name={id} /> : <PluginList />;
  if (section === 'mcp') {
    if (!id) return <McpServerList />;
    if (id === 'new') return <ResourceEditor info={KINDS.mcp_servers} />;
    if (extra === 'edit') return <ResourceEditor info={KINDS.mcp_servers} id={id} />;
    return <McpServerPage id={id} tab={extra} />;
  }
  const info = Object.values(KINDS).find((k) => k.path === section);
  if (!info) return <ErrorNote error={`Nothing here: ${path}`} />;
  if (!id) return <ResourceList info={info} />;
  return <ResourceEditor info={info} id={id === 'new' ? undefined : id} />;
}

function App() {
  const [session, setSession] = useState<Session | undefined>();
  const [checking, setChecking] = useState(storedKey() !== undefined);
  const [reason, setReason] = useState<string>();
  const path = useLocation();

  useEffect(() => {
    whenKeyRejected(() => {
      storeKey(undefined);
      setSession(undefined);
      setReason('The Admin API no longer accepts this key. Sign in again.');
    });
    if (!storedKey()) return;
    request<WhoAmI>('GET', '/whoami')
      .then((who) => setSession(sessionOf(who)), () => storeKey(undefined))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return null;
  if (!session) return <SignIn reason={reason} onSignedIn={(s) => (setReason(undefined), setSession(s))} />;
  const section = path.split('/').filter(Boolean)[0] ?? '';
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <div class="shell">
        <nav class="sidebar" aria-label="Sections">
          <div class="brand">Tollgate</div>
          <ul>
            {NAV.map(([target, label]) => (
              <li key={target}>
                <a href={target ? href(target) : '#/'} aria-current={section === target ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
          <div class="who">
            <span title="The key's name in admin.keys">{session.name}</span>
            <span class={`role role-${session.role}`}>{session.role === 'viewer' ? 'viewer · read-only' : 'admin'}</span>
            <button
              type="button"
              onClick={() => {
                storeKey(undefined);
                setSession(undefined);
              }}
            >
              Sign out
            </button>
          </div>
        </nav>
        <main id="main" tabIndex={-1}>
          <Page path={path} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
