/**
 * A consumer's credentials (`/consumers/{username}/credentials`): each holds one auth plugin's
 * consumer config — a second key for rotation, say. Their secrets are never shown.
 */
import { useState } from 'preact/hooks';
import { get, idOf, request, type ListAnswer, type PluginInfo } from '../api.js';
import { Empty, ErrorNote, useAsync } from '../components.js';
import { fieldErrorOf, type FieldErrors } from '../field-errors.js';
import { PluginsEditor } from './resources.js';
import { useCanWrite } from '../session.js';

export function Credentials({ username, info }: { username: string; info: Record<string, PluginInfo> }) {
  const canWrite = useCanWrite();
  const path = `/consumers/${encodeURIComponent(username)}/credentials`;
  const list = useAsync(() => get<ListAnswer>(path), [username]);
  const [adding, setAdding] = useState(false);
  const [id, setId] = useState('');
  const [plugins, setPlugins] = useState<Record<string, any> | undefined>();
  const [errors, setErrors] = useState<FieldErrors>([]);
  const [message, setMessage] = useState<string>();

  async function save() {
    setErrors([]);
    setMessage(undefined);
    try {
      await request('PUT', `${path}/${encodeURIComponent(id.trim())}`, { plugins: plugins ?? {} });
      setAdding(false);
      setId('');
      setPlugins(undefined);
      list.reload();
    } catch (err) {
      const field = fieldErrorOf((err as Error).message);
      setErrors(field ? [field] : []);
      setMessage((err as Error).message);
    }
  }

  return (
    <section class="credentials" aria-labelledby="credentials-title">
      <h2 id="credentials-title">Credentials</h2>
      <p class="muted">Extra keys of this consumer, each for one auth plugin: add the new key, move clients over, delete the old one.</p>
      <ErrorNote error={list.error} />
      {list.data && list.data.total === 0 && <Empty>No credentials.</Empty>}
      {list.data && list.data.total > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">ID</th>
              <th scope="col">Plugin</th>
              <th scope="col">Description</th>
              {canWrite && <th scope="col"><span class="visually-hidden">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {list.data.list.map((row) => {
              const credential = idOf(row);
              return (
                <tr key={row.key}>
                  <td>{credential}</td>
                  <td>{Object.keys(row.value.plugins ?? {}).join(', ')}</td>
                  <td>{row.value.desc ?? '—'}</td>
                  {canWrite && (
                    <td class="row-actions">
                      <button
                        type="button"
                        class="danger"
                        onClick={() =>
                          confirm(`Delete credential ${credential}?`) &&
                          request('DELETE', `${path}/${encodeURIComponent(credential)}`).then(list.reload, (err: Error) => setMessage(err.message))
                        }
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
      )}
      {canWrite && !adding && (
        <button type="button" onClick={() => setAdding(true)}>
          Add a credential
        </button>
      )}
      {adding && (
        <div class="subform">
          <label for="credential-id">Credential id</label>
          <input id="credential-id" value={id} onInput={(e) => setId(e.currentTarget.value)} autocomplete="off" />
          <PluginsEditor value={plugins} onChange={setPlugins} errors={errors} info={info} consumerPlugins readOnly={false} authOnly />
          <ErrorNote error={message} />
          <div class="form-actions">
            <button type="button" class="primary" disabled={!id.trim()} onClick={save}>
              Save credential
            </button>
            <button type="button" onClick={() => setAdding(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </section>
  );
}
