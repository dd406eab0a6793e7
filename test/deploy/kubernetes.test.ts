/**
 * deploy/kubernetes/ and the Dockerfile, checked for what makes them work when applied as they
 * are (kubeconform is not installable from the registries this project reaches): every document
 * parses and has the fields its kind requires; names that refer to each other (selectors, ports,
 * the ConfigMap, the Secret, the Redis Service) match; probes hit the status listener the config
 * opens; the config is one the gateway accepts; the grace period covers preStop and the drain.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig, parseListen } from '../../core/config.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { resolveAdminKeys } from '../../bin/admin-key.js';
import { REPO_ROOT } from '../helpers/gateway.js';

type Doc = Record<string, any>;
const DIR = join(REPO_ROOT, 'deploy/kubernetes');
const docs: Doc[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${f}: ${d.errors[0].message}`);
      return { ...(d.toJS() as Doc), __file: f };
    }),
  );
const find = (kind: string, name: string) => {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return doc;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** apiVersion of each kind used, as current Kubernetes serves them. */
const API_VERSIONS: Record<string, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  Service: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  PodDisruptionBudget: 'policy/v1',
};

describe('deploy/kubernetes', () => {
  const gateway = find('Deployment', 'tollgate');
  const pod = gateway.spec.template.spec;
  const container = pod.containers[0];
  const configText = find('ConfigMap', 'tollgate-config').data['config.yaml'] as string;
  const portByName = (name: string) => container.ports.find((p: Doc) => p.name === name)?.containerPort as number | undefined;

  it('holds only known kinds, each with its apiVersion, a DNS-1123 name and labels', () => {
    expect(docs.map((d) => d.kind).sort()).to.deep.equal(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'Service', 'StatefulSet']);
    for (const doc of docs) {
      expect(doc.apiVersion, `${doc.__file} ${doc.kind}`).to.equal(API_VERSIONS[doc.kind]);
      expect(doc.metadata.name).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(doc.metadata.labels).to.be.an('object');
    }
  });

  it('the Deployment selects its own pods, runs the image as non-root with the config mounted', () => {
    expect(matches(gateway.spec.selector.matchLabels, gateway.spec.template.metadata.labels)).to.equal(true);
    expect(container.image).to.match(/^tollgate:\d+\.\d+\.\d+$/);
    expect(pod.securityContext.runAsNonRoot).to.equal(true);
    expect(container.securityContext.allowPrivilegeEscalation).to.equal(false);
    const args = container.args as string[];
    const configPath = args[args.indexOf('--config') + 1];
    const mount = container.volumeMounts.find((m: Doc) => configPath.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v: Doc) => v.name === mount.name);
    expect(volume.configMap.name).to.equal('tollgate-config');
    expect(configPath.slice(mount.mountPath.length + 1)).to.equal('config.yaml');
    // A read-only root needs the data dir on a volume.
    expect(container.volumeMounts.map((m: Doc) => m.mountPath)).to.include('/var/lib/tollgate');
  });

  it('the ConfigMap holds a config the gateway accepts, on the ports the pod declares, with Redis at the Redis Service', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-k8s-'));
    try {
      writeFileSync(join(dir, 'config.yaml'), configText);
      const config = loadConfig({ file: join(dir, 'config.yaml'), env: {}, plugins: BUILTIN_PLUGINS });
      expect(parseListen(config.gateway.listen).port).to.equal(portByName('http'));
      expect(parseListen(config.admin.listen).port).to.equal(portByName('admin'));
      expect(parseListen(config.status.listen).port).to.equal(portByName('status'));
      expect(parseListen(config.metrics.listen).port).to.equal(portByName('metrics'));
      // Other pods relay MCP requests to the pod IP: every address, a fixed port.
      expect(config.relay.listen).to.equal(`0.0.0.0:${portByName('relay')}`);
      expect(config.gateway.data_dir).to.equal('/var/lib/tollgate');
      expect(config.catalog.backend).to.equal('redis');
      const redisUrl = new URL(config.redis.url);
      const redisService = find('Service', redisUrl.hostname);
      expect(redisService.spec.ports.map((p: Doc) => p.port)).to.include(Number(redisUrl.port));
      const redis = find('StatefulSet', 'tollgate-redis');
      expect(matches(redisService.spec.selector, redis.spec.template.metadata.labels)).to.equal(true);
      expect(redis.spec.template.spec.containers[0].args).to.include('--appendonly');
      // The shipped Secret is empty: with the Admin API beyond loopback, no key means no start.
      expect(() => resolveAdminKeys(config)).to.throw(ConfigError, /no admin key is configured/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the admin key and the relay secret from the Secret, which ships without values', () => {
    const env = (name: string) => container.env.find((e: Doc) => e.name === name);
    expect(env('TOLLGATE_ADMIN_KEY').valueFrom.secretKeyRef).to.deep.equal({ name: 'tollgate-admin', key: 'admin-key' });
    expect(env('TOLLGATE_RELAY_SECRET').valueFrom.secretKeyRef).to.deep.equal({ name: 'tollgate-admin', key: 'relay-secret' });
    const secret = find('Secret', 'tollgate-admin');
    expect(secret.stringData).to.deep.equal({ 'admin-key': '', 'relay-secret': '' });
    // The documented apply leaves a created Secret alone.
    expect(secret.metadata.labels['app.kubernetes.io/component']).to.equal('secret');
    for (const doc of docs.filter((d) => d.kind !== 'Secret')) expect(doc.metadata.labels['app.kubernetes.io/component'], doc.metadata.name).to.not.equal('secret');
  });

  it('probes: readiness on /status/ready and liveness on /status, both on the status port', () => {
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(portByName(container[probe].httpGet.port), probe).to.equal(portByName('status'));
    }
    expect(container.readinessProbe.httpGet.path).to.equal('/status/ready');
    expect(container.startupProbe.httpGet.path).to.equal('/status/ready');
    expect(container.livenessProbe.httpGet.path).to.equal('/status');
    expect(container.livenessProbe.failureThreshold).to.be.greaterThan(container.readinessProbe.failureThreshold);
  });

  it('the grace period covers preStop, the drain and stopping MCP children', () => {
    const config = loadConfig({ env: {}, plugins: BUILTIN_PLUGINS });
    const mcp = config.plugin_attr['mcp-bridge'] as { stop_stdin_wait: number; stop_term_wait: number };
    const needed = container.lifecycle.preStop.sleep.seconds + config.timeouts.shutdown + mcp.stop_stdin_wait + mcp.stop_term_wait;
    expect(pod.terminationGracePeriodSeconds).to.be.at.least(needed);
  });

  it('Services select the gateway pods and target ports they declare; a PDB keeps all but one', () => {
    for (const name of ['tollgate', 'tollgate-admin']) {
      const service = find('Service', name);
      expect(matches(service.spec.selector, gateway.spec.template.metadata.labels), name).to.equal(true);
      for (const port of service.spec.ports) expect(portByName(port.targetPort), `${name} → ${port.targetPort}`).to.be.a('number');
    }
    expect(find('Service', 'tollgate-admin').spec.type).to.equal('ClusterIP');
    const pdb = find('PodDisruptionBudget', 'tollgate');
    expect(pdb.spec.maxUnavailable).to.equal(1);
    expect(matches(pdb.spec.selector.matchLabels, gateway.spec.template.metadata.labels)).to.equal(true);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));

  it('builds in one stage and runs the compiled gateway under tini, as the node user, in another', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms).to.have.length(2);
    expect(froms[0]).to.match(/^FROM node:\d+-bookworm-slim AS build$/);
    expect(text).to.include('npm run build && npm prune --omit=dev');
    const runtime = lines.slice(lines.indexOf(froms[1]));
    expect(runtime).to.include('USER node');
    expect(runtime).to.include('ENTRYPOINT ["/usr/bin/tini", "--"]');
    const cmd = JSON.parse(runtime.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
    expect(cmd.slice(0, 1)).to.deep.equal(['node']);
    expect(cmd.slice(-2)).to.deep.equal(['dist/bin/tollgate.js', 'start']);
    // Only what runs: no sources, no dev dependencies, no tests.
    expect(runtime.filter((l) => l.startsWith('COPY '))).to.deep.equal([
      'COPY --from=build /app/package.json ./',
      'COPY --from=build /app/node_modules node_modules',
      'COPY --from=build /app/dist dist',
      'COPY conf conf',
    ]);
  });

  it('the Deployment runs the command the image is built for', () => {
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
    const args = find('Deployment', 'tollgate').spec.template.spec.containers[0].args as string[];
    expect(args.slice(0, cmd.length)).to.deep.equal(cmd);
  });
});
