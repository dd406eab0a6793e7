/**
 * The overview: requests per second, error rate, p99 latency, MCP sessions and tool calls per
 * minute from the gateway's own metrics, sampled every 2 s and drawn over the last five minutes;
 * how many resources there are; which MCP servers are up.
 */
import { useRef, useState } from 'preact/hooks';
import { get, idOf, request, type ListAnswer } from '../api.js';
import { Badge, ErrorNote, PageHeader, useAsync, useInterval } from '../components.js';
import { ratesBetween, sampleOf, type Rates, type Sample, type SummedWorker } from '../metrics.js';
import { href } from '../router.js';
import { useCanWrite } from '../session.js';
import { stateTone } from './mcp.js';

const SAMPLE_MS = 2000;
/** The figures are rates over this window (or since the page opened, when shorter). */
const WINDOW_MS = 60_000;
const HISTORY = 150;

interface Point {
  time: number;
  rates: Rates;
  sessions: number;
}

export function Overview() {
  const canWrite = useCanWrite();
  const samples = useRef<Sample[]>([]);
  const [points, setPoints] = useState<Point[]>([]);
  const [latest, setLatest] = useState<Sample>();
  const [error, setError] = useState<Error>();
  const [enableError, setEnableError] = useState<Error>();

  useInterval(() => {
    get<{ time: number; metrics: any[]; workers?: SummedWorker[] }>('/metrics').then(
      (answer) => {
        setError(undefined);
        const sample = sampleOf(answer.time, answer.metrics, answer.workers);
        const list = samples.current;
        const previous = list[list.length - 1];
        list.push(sample);
        while (list.length > 2 && sample.time - list[1].time > WINDOW_MS) list.shift();
        setLatest(sample);
        const rates = previous && ratesBetween(previous, sample);
        if (rates) setPoints((p) => [...p.slice(-(HISTORY - 1)), { time: sample.time, rates, sessions: sample.mcpSessions }]);
      },
      (err: Error) => setError(err),
    );
  }, SAMPLE_MS);

  // Over the window's samples that hold the same workers' counters as the latest.
  const newest = samples.current[samples.current.length - 1];
  const oldest = newest && samples.current.find((s) => s.summed === newest.summed);
  const windowRates = oldest && oldest !== newest ? ratesBetween(oldest, newest) : undefined;
  const counts = useAsync(async () => {
    const kinds = ['routes', 'upstreams', 'services', 'consumers', 'mcp_servers'];
    const totals = await Promise.all(kinds.map((k) => get<ListAnswer>(`/${k}?page=1&page_size=10`).then((a) => a.total)));
    return Object.fromEntries(kinds.map((k, i) => [k, totals[i]]));
  }, []);
  const servers = useAsync(async () => {
    const list = await get<ListAnswer>('/mcp_servers?page=1&page_size=100');
    return Promise.all(list.list.map(async (row) => ({ id: idOf(row), name: row.value.name as string | undefined, status: await get(`/mcp_servers/${encodeURIComponent(idOf(row))}/status`).catch(() => undefined) })));
  }, []);

  const fmt = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits));
  return (
    <section>
      <PageHeader title="Overview" />
      <ErrorNote error={error} title="Metrics" />
      <div class="cards" aria-live="polite">
        <Card label="Requests / s" value={fmt(windowRates?.requestsPerSecond)} series={points.map((p) => p.rates.requestsPerSecond)} testid="rps" />
        <Card label="Error rate (5xx)" value={windowRates?.errorRate === undefined ? '—' : `${(windowRates.errorRate * 100).toFixed(1)} %`} series={points.map((p) => p.rates.errorRate ?? 0)} testid="error-rate" />
        <Card label="p99 latency" value={windowRates?.p99 === undefined ? '—' : `${fmt(windowRates.p99)} ms`} series={points.map((p) => p.rates.p99 ?? 0)} testid="p99" />
        <Card label="MCP sessions" value={latest ? String(latest.mcpSessions) : '—'} series={points.map((p) => p.sessions)} testid="mcp-sessions" />
        <Card label="Tool calls / min" value={fmt(windowRates?.toolCallsPerMinute)} series={points.map((p) => p.rates.toolCallsPerMinute)} testid="tool-calls" />
        <Card label="Refused by plugins / s" value={fmt(windowRates?.rejectedPerSecond)} series={points.map((p) => p.rates.rejectedPerSecond)} testid="rejected" />
      </div>
      <p class="muted small">
        Rates over the last {Math.round((windowRates?.seconds ?? 0) || WINDOW_MS / 1000)} s, sampled every {SAMPLE_MS / 1000} s from this gateway's metrics
        {latest?.workers !== undefined && (
          <span data-testid="workers-summed">
            {' '}
            summed over the {latest.workers} worker{latest.workers === 1 ? '' : 's'} that answered
          </span>
        )} (what the Prometheus exporter
        serves).
      </p>
      {latest && !latest.http && (
        <div class="note">
          Requests, error rate and latency come from the <a href={href('plugins', 'prometheus')}>prometheus</a> plugin, which no route or global rule
          has recorded with yet.
          {canWrite && (
            <>
              {' '}
              <button
                type="button"
                onClick={() => request('PUT', '/global_rules/prometheus', { plugins: { prometheus: {} } }).then(() => setEnableError(undefined), setEnableError)}
              >
                Record them for every route (a global rule)
              </button>
            </>
          )}
          <ErrorNote error={enableError} />
        </div>
      )}
      <h2>Catalog</h2>
      <ErrorNote error={counts.error} />
      <ul class="counts">
        {counts.data &&
          Object.entries(counts.data).map(([kind, total]) => (
            <li key={kind}>
              <a href={href(kind === 'mcp_servers' ? 'mcp' : kind)}>
                <strong>{total}</strong> {kind.replace('_', ' ')}
              </a>
            </li>
          ))}
      </ul>
      <h2>MCP servers</h2>
      <ErrorNote error={servers.error} />
      {servers.data?.length === 0 && <p class="muted">No MCP servers in the catalog.</p>}
      <ul class="server-states">
        {servers.data?.map((s) => (
          <li key={s.id}>
            <a href={href('mcp', s.id)}>{s.name ?? s.id}</a> <Badge tone={stateTone(s.status?.state)}>{s.status?.state ?? 'unknown'}</Badge>{' '}
            <span class="muted">{s.status ? `${s.status.sessions} sessions` : ''}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Card({ label, value, series, testid }: { label: string; value: string; series: number[]; testid: string }) {
  return (
    <div class="card" data-testid={testid}>
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
      <Sparkline series={series} label={label} />
    </div>
  );
}

function Sparkline({ series, label }: { series: number[]; label: string }) {
  const width = 200;
  const height = 36;
  if (series.length < 2) return <svg class="spark" viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={`${label}: no history yet`} />;
  const max = Math.max(...series, 1e-9);
  // The history fills the card from the first samples on; it holds the last HISTORY samples.
  const step = width / (series.length - 1);
  const y = (v: number) => (height - 2 - (v / max) * (height - 4)).toFixed(1);
  const points = series.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`).join(' ');
  return (
    <svg class="spark" viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={`${label} over the last minutes`}>
      <polygon points={`0,${height} ${points} ${width},${height}`} fill="currentColor" fill-opacity="0.08" stroke="none" />
      <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}
