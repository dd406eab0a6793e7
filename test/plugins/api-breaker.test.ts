import { expect } from 'chai';
import { BreakerState } from '../../plugins/api-breaker/breaker.js';
import { startTestGateway, type HttpResult, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { firstAnswerOtherThan, putRoute, statuses, pluginsInUse } from './support.js';

describe('plugin api-breaker', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
  });
  afterEach(() => {
    upstream.behaviour = 'echo';
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  describe('schema', () => {
    it('fills APISIX defaults', async () => {
      const res = await putRoute(gw, 'defaults', '/defaults', upstream, { 'api-breaker': { break_response_code: 502 } });
      expect(res.status).to.equal(201);
      expect((await pluginsInUse(gw, 'defaults'))['api-breaker']).to.deep.equal({
        break_response_code: 502,
        max_breaker_sec: 300,
        unhealthy: { http_statuses: [500], failures: 3 },
        healthy: { http_statuses: [200], successes: 3 },
      });
    });

    it('refuses bad configs with a message naming the field', async () => {
      const bad = async (conf: unknown) => (await putRoute(gw, 'bad', '/bad', upstream, { 'api-breaker': conf })).json.error_msg as string;
      expect(await bad({})).to.match(/\/break_response_code.*required/);
      expect(await bad({ break_response_code: 502, max_breaker_sec: 2 })).to.match(/\/max_breaker_sec/);
      expect(await bad({ break_response_code: 502, unhealthy: { http_statuses: [404] } })).to.match(/\/unhealthy\/http_statuses\/0/);
      expect(await bad({ break_response_code: 502, healthy: { successes: 0 } })).to.match(/\/healthy\/successes/);
      expect(await bad({ break_response_code: 502, break_response_headers: [{ key: 'X-A' }] })).to.match(/value.*required/);
      expect(await bad({ break_response_code: 502, break_response_headers: [{ key: 'X-A', value: 'a\r\nX-B: c' }] })).to.match(/\/break_response_headers\/0\/value.*pattern/);
    });
  });

  describe('open → half-open → closed', () => {
    it('opens after the failures, answers for the upstream, probes after 2 s, doubles the break on a failed probe, closes on success (B-22)', async () => {
      await putRoute(gw, 'timeline', '/timeline', upstream, {
        'api-breaker': {
          break_response_code: 502,
          break_response_body: '{"error":"breaker open"}',
          break_response_headers: [
            { key: 'Content-Type', value: 'application/json' },
            { key: 'X-Breaker-Route', value: '$route_id' },
          ],
          unhealthy: { http_statuses: [500], failures: 3 },
          healthy: { http_statuses: [200], successes: 1 },
          max_breaker_sec: 3,
        },
      });
      // A break is timed from the failure that (re)opened the breaker, which the gateway records
      // after the request was sent: whatever the machine's speed, no request passes before
      // sent + break, so these lower bounds hold without an upper one.
      upstream.behaviour = 'fail';
      expect(await statuses(gw, 2, '/timeline')).to.deep.equal([500, 500]);
      const thirdFailureSent = Date.now();
      expect((await gw.get('/timeline')).status).to.equal(500);

      // Open: the upstream is not called.
      const seen = upstream.seen.length;
      const open = await gw.get('/timeline');
      expect(open.status).to.equal(502);
      expect(open.json).to.deep.equal({ error: 'breaker open' });
      expect(open.headers['content-type']).to.equal('application/json');
      expect(open.headers['x-breaker-route']).to.equal('timeline');
      expect(open.headers['retry-after']).to.equal('2');
      expect(upstream.seen.length).to.equal(seen);

      // Half-open after 2 s: one probe reaches the still-failing upstream, and the break doubles (capped at 3 s).
      const probe = await firstAnswerOtherThan(gw, '/timeline', 502);
      expect(probe.res.status).to.equal(500);
      expect(probe.at - thirdFailureSent, 'the first break lasts 2 s').to.be.at.least(2000);
      expect(upstream.seen.length).to.equal(seen + 1);
      const reopened = await gw.get('/timeline');
      expect(reopened.status).to.equal(502);
      expect(reopened.headers['retry-after']).to.equal('3');

      // The upstream recovers; the next probe, 3 s on, succeeds and closes the breaker.
      upstream.behaviour = 'echo';
      const recovered = await firstAnswerOtherThan(gw, '/timeline', 502);
      expect(recovered.res.status).to.equal(200);
      expect(recovered.at - probe.sentAt, 'the second break lasts 3 s').to.be.at.least(3000);
      expect(await statuses(gw, 4, '/timeline')).to.deep.equal([200, 200, 200, 200]);
    });

    it('percent-encodes what a header cannot carry when a variable fills a break response header (issue 10, item 9)', async () => {
      await putRoute(gw, 'echo-open', '/echo-open', upstream, {
        'api-breaker': {
          break_response_code: 503,
          break_response_body: 'open',
          break_response_headers: [{ key: 'X-Asked', value: '$arg_x' }],
          unhealthy: { http_statuses: [500], failures: 1 },
        },
      });
      upstream.behaviour = 'fail';
      expect((await gw.get('/echo-open')).status).to.equal(500);
      const open = await gw.get('/echo-open?x=a%0D%0AX-Injected:%20yes%E4%B8%AD');
      expect(open.status).to.equal(503);
      expect(open.headers['x-asked']).to.equal('a%0D%0AX-Injected: yes%E4%B8%AD');
      expect(open.headers).to.not.have.property('x-injected');
    });

    it('sends one probe at a time while half-open', async () => {
      // The probe is held at the upstream until the test lets it go, so "while it is in flight"
      // is a state the test waits for, not a guess about timing.
      const held: Array<() => void> = [];
      const waiting: Array<{ count: number; resolve: () => void }> = [];
      /** Resolves once `count` requests are held at the upstream. */
      const whenHeld = (count: number) => new Promise<void>((resolve) => waiting.push({ count, resolve }));
      const gate = await startUpstream((_req, res) => {
        held.push(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"probe":true}');
        });
        for (const w of waiting) if (held.length >= w.count) w.resolve();
      });
      try {
        await gw.admin('PUT', '/routes/probe', {
          uri: '/probe',
          upstream: { nodes: { [gate.address]: 1 } },
          plugins: { 'api-breaker': { break_response_code: 503, unhealthy: { failures: 1 }, healthy: { successes: 1 } } },
        });
        gate.behaviour = 'fail';
        const failureSent = Date.now();
        expect((await gw.get('/probe')).status).to.equal(500);
        gate.behaviour = 'echo';
        const open = await gw.get('/probe');
        expect(open.status).to.equal(503);
        expect(open.json.code).to.equal('GW_BREAKER_OPEN');

        // Ask until one request reaches the upstream (refused ones come straight back): the probe.
        const seen = gate.seen.length;
        const arrived = whenHeld(1);
        let probe: Promise<HttpResult> | undefined;
        const probeSent = await waitFor(async () => {
          const attempt = gw.get('/probe');
          const refused = await Promise.race([attempt.then((r) => r.status === 503), arrived.then(() => false)]);
          if (!refused) probe = attempt;
          return !refused;
        }, 10_000, 20);
        expect(probeSent, 'a probe after the break').to.equal(true);
        expect(Date.now() - failureSent, 'the break lasts 2 s').to.be.at.least(2000);
        // While it is in flight everyone else still gets the break response.
        const others = Promise.all([gw.get('/probe'), gw.get('/probe')]).then((rs) => rs.map((r) => r.status));
        const outcome = await Promise.race([others, whenHeld(2).then(() => 'a second request reached the upstream')]);
        expect(outcome).to.deep.equal([503, 503]);
        expect(gate.seen.length).to.equal(seen + 1);
        held.splice(0).forEach((release) => release());
        expect((await probe!).status).to.equal(200);
        // The probe's success closed the breaker.
        const after = gw.get('/probe');
        expect(await waitFor(() => held.length === 1, 3000)).to.equal(true);
        held.splice(0).forEach((release) => release());
        expect((await after).status).to.equal(200);
      } finally {
        held.splice(0).forEach((release) => release());
        await gate.close();
      }
    });
  });

  describe('what counts', () => {
    it('counts an unreachable upstream as 502 and a timeout as 504, when listed', async () => {
      await gw.admin('PUT', '/routes/down', {
        uri: '/down',
        upstream: { nodes: { '127.0.0.1:1': 1 }, retries: 0 },
        plugins: { 'api-breaker': { break_response_code: 503, unhealthy: { http_statuses: [502, 504], failures: 2 } } },
      });
      expect(await statuses(gw, 3, '/down')).to.deep.equal([502, 502, 503]);

      await gw.admin('PUT', '/routes/hang', {
        uri: '/hang',
        upstream: { nodes: { [upstream.address]: 1 } },
        timeout: { connect: 1, send: 1, read: 0.3 },
        plugins: { 'api-breaker': { break_response_code: 503, unhealthy: { http_statuses: [502, 504], failures: 2 } } },
      });
      upstream.behaviour = 'hang';
      expect(await statuses(gw, 3, '/hang')).to.deep.equal([504, 504, 503]);
    });

    it('needs `successes` healthy responses in a row to forget failures, and ignores unlisted statuses', async () => {
      await putRoute(gw, 'reset', '/reset', upstream, {
        'api-breaker': { break_response_code: 503, unhealthy: { failures: 3 }, healthy: { successes: 2 } },
      });
      const fail = async (n: number) => {
        upstream.behaviour = 'fail';
        const out = await statuses(gw, n, '/reset');
        upstream.behaviour = 'echo';
        return out;
      };
      expect(await fail(2)).to.deep.equal([500, 500]);
      expect(await statuses(gw, 2, '/reset')).to.deep.equal([200, 200]);
      expect(await fail(2)).to.deep.equal([500, 500]);
      // One success does not reset: the third failure since then opens it.
      expect(await statuses(gw, 1, '/reset')).to.deep.equal([200]);
      expect(await fail(1)).to.deep.equal([500]);
      expect((await gw.get('/reset')).status).to.equal(503);

      await putRoute(gw, 'unlisted', '/unlisted', upstream, { 'api-breaker': { break_response_code: 503, unhealthy: { failures: 1 } } });
      upstream.behaviour = 'fail';
      upstream.failStatus = 501;
      try {
        expect(await statuses(gw, 3, '/unlisted')).to.deep.equal([501, 501, 501]);
      } finally {
        upstream.failStatus = 500;
      }
    });

    it('keeps its state across an unrelated edit of the route', async () => {
      const plugins = { 'api-breaker': { break_response_code: 503, unhealthy: { failures: 1 } } };
      await putRoute(gw, 'kept', '/kept', upstream, plugins);
      upstream.behaviour = 'fail';
      await gw.get('/kept');
      await putRoute(gw, 'kept', '/kept', upstream, plugins, { desc: 'edited' });
      expect((await gw.get('/kept')).status).to.equal(503);
    });
  });

  describe('state machine', () => {
    it('doubles the break 2, 4, 8 … up to max_breaker_sec, and resets when closed', () => {
      const state = new BreakerState({ failures: 2, successes: 1, maxBreakerSec: 20 });
      let now = 0;
      state.record('unhealthy', false, now);
      expect(state.admit(now)).to.deep.equal({ allowed: true, probe: false });
      expect(state.record('unhealthy', false, now)).to.equal('opened');
      const breaks: number[] = [];
      for (let i = 0; i < 5; i++) {
        breaks.push(state.breakSeconds());
        expect(state.admit(now).allowed).to.equal(false);
        now += state.breakSeconds() * 1000;
        expect(state.admit(now)).to.deep.equal({ allowed: true, probe: true });
        expect(state.admit(now).allowed, 'a second probe').to.equal(false);
        expect(state.record('unhealthy', true, now)).to.equal('opened');
      }
      expect(breaks).to.deep.equal([2, 4, 8, 16, 20]);
      now += 20_000;
      expect(state.admit(now)).to.deep.equal({ allowed: true, probe: true });
      expect(state.record('healthy', true, now)).to.equal('closed');
      expect(state.state).to.equal('closed');
      state.record('unhealthy', false, now);
      expect(state.record('unhealthy', false, now)).to.equal('opened');
      expect(state.breakSeconds()).to.equal(2);
    });
  });
});
