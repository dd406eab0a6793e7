/** apache/apisix t/plugin/jwt-auth.t — consumer schema, token places, algorithms, failures. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const consumer = (username: string, conf: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/consumers', body: { username, plugins: { 'jwt-auth': conf } }, status });
const JACK = consumer('jack', { key: 'user-key', secret: 'my-secret-key' });
const ROUTE: Step = { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'jwt-auth': {} }), status: 201 };
const HELLO = { status: 200, text: 'hello world\n' };
const EXPIRED = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSIsImV4cCI6MTU2Mzg3MDUwMX0.pPNVvh-TQsdDzorRwa-uuiLYiEBODscp9wv0cwD6c68';
const VALID = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSIsImV4cCI6MTg3OTMxODU0MX0.fNtFJnNmJgzbiYmGB0Yjvm-l6A6M4jRV1l4mnVFSYjs';
const RSA512_PUB = '-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKebDxlvQMGyEesAL1r1nIJBkSdqu3Hr\n7noq/0ukiZqVQLSJPMOv0oxQSutvvK3hoibwGakDOza+xRITB7cs2cECAwEAAQ==\n-----END PUBLIC KEY-----';
const RSA2048_PUB =
  '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv5LHjZ4FxQ9jk6eQGDRt\noRwFVkLq+dUBebs97hrzirokVr2B+RoxqdLfKAM+AsN2DadawZ2GqlCV9DL0/gz6\nnWSqTQpWbQ8c7CrF31EkIHUYRzZvWy17K3WC9Odk/gM1FVd0HbZ2Rjuqj9ADeeqx\nnj9npDqKrMODOENy31SqZNerWZsdgGkML5JYbX5hbI2L9LREvRU21fDgSfGL6Mw4\nNaxnnzcvll4yqwrBELSeDZEAt0+e/p1dO7moxF+b1pFkh9vQl6zGvnvf8fOqn5Ex\ntLHXVzgx752PHMwmuj9mO1ko6p8FOM0JHDnooI+5rwK4j3I27Ho5nnatVWUaxK4U\n8wIDAQAB\n-----END PUBLIC KEY-----';
const RS2048_SIGN =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleS1yczI1NiIsIm5iZiI6MTcyNzI3NDk4M30.Zvp8dXefvGXrKgeoaNsA3sbV_3fw1w6Te7a0B_UANzef7gGJwvlnD6c3-f4yAy7GPgNzP_H1-atcF-sgLHAYpUa14XKe22a9S_BJSoQszoZuqGgpnGcjSzDMK9JX3FLUtzOFMQR5C4_3d7_z0NlepNo2xdQ6IQj0SvS1jrNwydpA9L89N07id3EO739uNw339g78N9QHP-j8nWItfbjo31xefCWTHtcloGkfaJOhcr06qmSbrivBU1AuPA8T3ZVumqw6fcRJzrvQJdKEfVyP-IPUtUy8SM1yLqstaKojJtU3A2HKaeb4fycwHXxtl52xhzIshr_I3iUhX_ak-z7m0A';
const ES256_PUB = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----';
const ES256_SIGN = 'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleS1lczI1NiIsIm5iZiI6MTcyNzI3NDk4M30.t-CZzJRSxIuVVjU3m8_zDtb7h9x2R2s3BJWmerh0hw-RMIklBqLJ3V9kYAWl7DIyXlp0jQCPDZ_M7mhr1Q3HPw';
const ES_HEAD = 'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleS1lczI1NiIsIm5iZiI6MTcyNzI3NDk4M30';

export default {
  area: 'plugin/jwt-auth',
  cases: [
    { src: 't/plugin/jwt-auth.t#1', name: 'sanity (consumer schema, defaults)', steps: [consumer('jack', { key: '123', secret: 'my-secret-key' })] },
    {
      src: 't/plugin/jwt-auth.t#2',
      name: 'wrong type of string',
      steps: [{ ...consumer('jack', { key: 123 }, 400), errorLike: 'property "key" validation failed: wrong type: expected string, got number' }],
    },
    { src: 't/plugin/jwt-auth.t#3-5', name: 'verify, missing token', steps: [JACK, ROUTE, { req: 'GET /hello', status: 401, message: 'Missing JWT token in request' }] },
    { src: 't/plugin/jwt-auth.t#6', name: 'verify: invalid JWT token', steps: [JACK, ROUTE, { req: `GET /hello?jwt=invalid-${EXPIRED}`, status: 401, message: 'JWT token invalid' }] },
    { src: 't/plugin/jwt-auth.t#7', name: 'verify: expired JWT token', steps: [JACK, ROUTE, { req: `GET /hello?jwt=${EXPIRED}`, status: 401, message: 'failed to verify jwt' }] },
    { src: 't/plugin/jwt-auth.t#8', name: 'verify (in header)', steps: [JACK, ROUTE, { req: 'GET /hello', headers: { authorization: `Bearer ${VALID}` }, ...HELLO }] },
    { src: 't/plugin/jwt-auth.t#9', name: 'verify (in cookie)', steps: [JACK, ROUTE, { req: 'GET /hello', headers: { cookie: `jwt=${VALID}` }, ...HELLO }] },
    { src: 't/plugin/jwt-auth.t#10', name: 'verify (in header without Bearer)', steps: [JACK, ROUTE, { req: 'GET /hello', headers: { authorization: VALID }, ...HELLO }] },
    { src: 't/plugin/jwt-auth.t#11', name: 'verify (header with bearer)', steps: [JACK, ROUTE, { req: 'GET /hello', headers: { authorization: `bearer ${VALID}` }, ...HELLO }] },
    { src: 't/plugin/jwt-auth.t#12', name: 'verify (invalid bearer token)', steps: [JACK, ROUTE, { req: 'GET /hello', headers: { authorization: `bearer invalid-${VALID}` }, status: 401, message: 'JWT token invalid' }] },
    {
      src: 't/plugin/jwt-auth.t#13',
      name: 'delete a exist consumer',
      steps: [JACK, consumer('chen', { key: 'chen-key', secret: 'chen-key' }), { admin: 'DELETE /apisix/admin/consumers/jack', status: 200 }],
    },
    {
      src: 't/plugin/jwt-auth.t#14-16',
      name: 'base64 secret: sign / verify',
      steps: [
        consumer('jack', { key: 'user-key', secret: 'fo4XKdZ1xSrIZyms4q2BwPrW5lMpls9qqy5tiAk2esc=', base64_secret: true }),
        ROUTE,
        { req: 'GET /hello?jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSIsIm5iZiI6MTcyNzI3NDk4M30._Z8b_Asb2ROvGX4R5sNMbgJNQXB6x7aQeuVjmjY21Nw', ...HELLO },
      ],
    },
    {
      src: 't/plugin/jwt-auth.t#18',
      name: 'verify: invalid signature',
      steps: [consumer('jack', { key: 'user-key', secret: 'fo4XKdZ1xSrIZyms4q2BwPrW5lMpls9qqy5tiAk2esc=', base64_secret: true }), ROUTE, { req: 'GET /hello', headers: { authorization: `Bearer ${VALID}` }, status: 401, message: 'failed to verify jwt' }],
    },
    {
      src: 't/plugin/jwt-auth.t#19',
      name: 'verify: happy path (base64 secret)',
      steps: [
        consumer('jack', { key: 'user-key', secret: 'fo4XKdZ1xSrIZyms4q2BwPrW5lMpls9qqy5tiAk2esc=', base64_secret: true }),
        ROUTE,
        { req: 'GET /hello', headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSIsImV4cCI6MTg3OTMxODU0MX0._kNmXeH1uYVAvApFTONk2Z3Gh-a4XfGrjmqd_ahoOI0' }, ...HELLO },
      ],
    },
    { src: 't/plugin/jwt-auth.t#20', name: 'without key', steps: [{ ...consumer('jack', {}, 400), errorLike: 'property "key" is required' }] },
    {
      src: 't/plugin/jwt-auth.t#21',
      name: 'get the schema by schema_type',
      steps: [
        {
          admin: 'GET /apisix/admin/schema/plugins/jwt-auth?schema_type=consumer',
          status: 200,
          json: { required: ['key'], type: 'object', properties: { base64_secret: { default: false, type: 'boolean' }, secret: { type: 'string' }, exp: { minimum: 1, default: 86400, type: 'integer' }, key: { type: 'string' } } },
        },
      ],
    },
    {
      src: 't/plugin/jwt-auth.t#31-33',
      name: 'sign/verify use RS256 algorithm (private_key numbits = 2048)',
      steps: [consumer('kerouac', { key: 'user-key-rs256', algorithm: 'RS256', public_key: RSA2048_PUB }), ROUTE, { req: `GET /hello?jwt=${RS2048_SIGN}`, ...HELLO }],
    },
    {
      src: 't/plugin/jwt-auth.t#38-40',
      name: 'sign / verify (algorithm = HS512)',
      steps: [
        consumer('kerouac', { key: 'user-key-HS512', algorithm: 'HS512', secret: 'my-secret-key' }),
        ROUTE,
        { req: 'GET /hello?jwt=eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleS1IUzUxMiIsIm5iZiI6MTcyNzI3NDk4M30.emzmjIbFqkRAr55YW5YobdXDxYWiMuUNLPooE5G_bbme1ul19p1dKW7ESrlqvr4BPJRKThm4PnkNC4h9xSJpBQ', ...HELLO },
      ],
    },
    {
      src: 't/plugin/jwt-auth.t#41',
      name: 'sign / verify (algorithm = HS512, with extra payload)',
      steps: [
        consumer('kerouac', { key: 'user-key-HS512', algorithm: 'HS512', secret: 'my-secret-key' }),
        ROUTE,
        {
          req: 'GET /hello?jwt=eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJhYWEiOiIxMSIsImJiIjoiMjIyIiwia2V5IjoidXNlci1rZXktSFM1MTIiLCJuYmYiOjE3MjcyNzQ5ODN9.s6E3-wNJypgJL71MxoyTTHBDeqdrGQddFjkhLlh3ZN6IZwgpFRlFT1_8suQg9dWUDHGQqgejULyLPhmBMIbw2A',
          ...HELLO,
        },
      ],
    },
    {
      src: 't/plugin/jwt-auth.t#42',
      name: 'wrong format of secret',
      steps: [{ ...consumer('jack', { key: '123', secret: '{^c0j4&]2!=J=', base64_secret: true }, 400), errorLike: 'base64_secret required but the secret is not in base64 format' }],
    },
    { src: 't/plugin/jwt-auth.t#43', name: 'when the exp value is not set, the default value (86400) works', steps: [consumer('jack', { key: 'exp-not-set', secret: 'my-secret-key' })] },
    { src: 't/plugin/jwt-auth.t#44', name: 'RS256 without public key', steps: [{ ...consumer('jack', { algorithm: 'RS256', key: 'user-key' }, 400), errorLike: 'failed to validate dependent schema for "algorithm"' }] },
    {
      src: 't/plugin/jwt-auth.t#46-48',
      name: 'sign/verify use ES256 algorithm',
      steps: [consumer('kerouac', { key: 'user-key-es256', algorithm: 'ES256', public_key: ES256_PUB }), ROUTE, { req: `GET /hello?jwt=${ES256_SIGN}`, ...HELLO }],
    },
    {
      src: 't/plugin/jwt-auth.t#50',
      name: 'add consumer missing public_key (algorithm=ES256)',
      steps: [
        {
          ...consumer('kerouac', { key: 'user-key-es256', algorithm: 'ES256' }, 400),
          error: 'invalid plugins configuration: failed to check the configuration of plugin jwt-auth err: failed to validate dependent schema for "algorithm": value should match only one schema, but matches none',
        },
      ],
    },
    {
      src: 't/plugin/jwt-auth.t#51',
      name: 'secret is required when algorithm is HS256 (default)',
      steps: [{ ...consumer('jack', { key: '123' }, 400) }, { ...consumer('jack', { key: '123', algorithm: 'HS512' }, 400) }, consumer('jack', { key: '123', algorithm: 'RS256', public_key: RSA512_PUB })],
    },
    {
      src: 't/plugin/jwt-auth.t#52',
      name: 'HS256 token against RS256 consumer',
      steps: [
        consumer('kerouac', { key: 'user-key-rs256', algorithm: 'RS256', public_key: RSA512_PUB }),
        ROUTE,
        { req: 'GET /hello?jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleS1yczI1NiIsIm5iZiI6MTcyNzI3NDk4M30.6H3x-DNrthHMtsQ72qZNrddTdDjEZuJQX6MNiEBFTOs', status: 401, message: 'failed to verify jwt' },
      ],
    },
    { src: 't/plugin/jwt-auth.t#53-55', name: 'expired token with no claims_to_verify configured -> rejected', steps: [JACK, ROUTE, { req: `GET /hello?jwt=${EXPIRED}`, status: 401, message: 'failed to verify jwt' }] },
    {
      src: 't/plugin/jwt-auth.t#56',
      name: 'token without exp claim and no claims_to_verify configured -> accepted',
      steps: [JACK, ROUTE, { req: 'GET /hello?jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJrZXkiOiJ1c2VyLWtleSJ9._7aoTZdzQDT0r9swHTcHb3nsujexcGjSTU-LRzTRVyY', ...HELLO }],
    },
    {
      src: 't/plugin/jwt-auth.t#57,58',
      name: 'expired token with an explicit empty claims_to_verify -> still rejected',
      steps: [JACK, { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'jwt-auth': { claims_to_verify: [] } }), status: 201 }, { req: `GET /hello?jwt=${EXPIRED}`, status: 401, message: 'failed to verify jwt' }],
    },
    {
      src: 't/plugin/jwt-auth.t#59',
      name: 'malformed signatures must be rejected with 401, not crash with 500',
      steps: [
        consumer('kerouac', { key: 'user-key-es256', algorithm: 'ES256', public_key: ES256_PUB }),
        ROUTE,
        { req: `GET /hello?jwt=${ES_HEAD}.YWJj`, status: 401, message: 'failed to verify jwt' },
        { req: `GET /hello?jwt=${ES_HEAD}.@@@@`, status: 401, message: 'failed to verify jwt' },
      ],
    },
  ],
} satisfies CaseFile;
