/**
 * The observability settings of conf/config.yaml and their environment variables.
 */
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../core/config.js';

describe('observability configuration', () => {
  it('defaults: access log on to stdout; exporter on 127.0.0.1:9091 at APISIX\'s path with process metrics', () => {
    const config = loadConfig({ env: {} });
    expect(config.access_log).to.deep.equal({ enabled: true, path: '' });
    expect(config.metrics).to.deep.equal({ enabled: true, listen: '127.0.0.1:9091', path: '/apisix/prometheus/metrics', process_metrics: true, max_tool_names: 100, names: 'tollgate' });
  });

  it('TOLLGATE_METRICS_LISTEN moves the exporter; TOLLGATE_ACCESS_LOG turns the access log off or on', () => {
    expect(loadConfig({ env: { TOLLGATE_METRICS_LISTEN: '0.0.0.0:9100' } }).metrics.listen).to.equal('0.0.0.0:9100');
    for (const off of ['false', 'off', '0', 'OFF']) expect(loadConfig({ env: { TOLLGATE_ACCESS_LOG: off } }).access_log.enabled, off).to.equal(false);
    for (const on of ['true', 'on', '1']) expect(loadConfig({ env: { TOLLGATE_ACCESS_LOG: on }, overrides: { access_log: { enabled: false } } }).access_log.enabled, on).to.equal(true);
  });

  it('refuses a bad exporter address or path, and a bad switch, naming the key', () => {
    expect(() => loadConfig({ env: { TOLLGATE_METRICS_LISTEN: 'nowhere' } })).to.throw(ConfigError, /key "metrics.listen"/);
    expect(() => loadConfig({ env: {}, overrides: { metrics: { path: 'metrics' } } })).to.throw(ConfigError, /key "metrics.path"/);
    expect(() => loadConfig({ env: { TOLLGATE_ACCESS_LOG: 'maybe' } })).to.throw(ConfigError, /key "access_log.enabled"/);
  });
});
