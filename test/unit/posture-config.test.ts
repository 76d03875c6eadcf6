import { describe, expect, it } from 'vitest';
import { duration } from '../../src/config/schema.ts';
import { devicePostureSchema, ASYMMETRIC_ALGORITHMS } from '../../src/posture/config.ts';

const schema = devicePostureSchema(duration);
const signed = { jwks_url: 'https://mdm.example.com/.well-known/jwks.json', issuer: 'https://mdm.example.com', audience: 'portcullis' };

function problems(input: unknown): string[] {
  const r = schema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('device_posture configuration', () => {
  it('fills safe defaults: every asymmetric algorithm, 10 minutes max_age, 2 s JWKS timeout, binding on', () => {
    const c = schema.parse(signed);
    expect(c.header).toBe('X-Device-Posture');
    expect(c.algorithms).toEqual([...ASYMMETRIC_ALGORITHMS]);
    expect(c.algorithms.some((a) => a.startsWith('HS'))).toBe(false);
    expect(c.max_age).toBe(600_000);
    expect(c.jwks_timeout).toBe(2_000);
    expect(c.jwks_cooldown).toBe(30_000);
    expect(c.insecure_allow_http).toBe(false);
    expect(c.session_binding).toBe(true);
  });

  it('parses durations with the shared duration syntax', () => {
    const c = schema.parse({ ...signed, max_age: '5m', jwks_timeout: '500ms' });
    expect(c.max_age).toBe(300_000);
    expect(c.jwks_timeout).toBe(500);
    expect(problems({ ...signed, max_age: 'ten minutes' }).join()).toMatch(/not a duration/);
    expect(problems({ ...signed, max_age: '0s' }).join()).toMatch(/max_age must be longer than 0/);
  });

  it('rejects unknown keys, because a typo must not silently switch a check off', () => {
    expect(problems({ ...signed, max_agee: '5m' }).join()).toMatch(/max_agee/);
    expect(problems({ ...signed, trusted_headers: { manged: 'X-Device-Managed' } }).join()).toMatch(/manged/);
  });

  it('refuses HMAC and "none" with an explanation', () => {
    const hs = problems({ ...signed, algorithms: ['ES256', 'HS256'] });
    expect(hs.join()).toMatch(/algorithms\.1: HS256 is a shared-secret \(HMAC\) algorithm/);
    expect(problems({ ...signed, algorithms: ['none'] }).join()).toMatch(/unsigned posture can be forged/);
    expect(problems({ ...signed, algorithms: ['ES256K'] }).join()).toMatch(/not a supported signature algorithm/);
    expect(problems({ ...signed, algorithms: [] }).join()).toMatch(/at least one algorithm/);
  });

  it('requires an https JWKS unless insecure_allow_http is set by name', () => {
    const http = { ...signed, jwks_url: 'http://mdm.example.com/jwks.json' };
    expect(problems(http).join()).toMatch(/jwks_url: jwks_url must use https.*insecure_allow_http: true/);
    expect(problems({ ...http, insecure_allow_http: true })).toEqual([]);
    expect(problems({ ...signed, jwks_url: 'file:///etc/passwd' }).join()).toMatch(/jwks_url/);
  });

  it('needs exactly one source of keys, plus issuer and audience for signed posture', () => {
    expect(problems({ ...signed, keys: ['/etc/mdm.pem'] }).join()).toMatch(/keys: give either jwks_url or keys, not both/);
    expect(problems({}).join()).toMatch(/say where posture comes from/);
    const noIss = problems({ keys: ['/etc/mdm.pem'], audience: 'portcullis' });
    expect(noIss.join()).toMatch(/issuer: issuer is required/);
    const noAud = problems({ keys: ['/etc/mdm.pem'], issuer: 'x' });
    expect(noAud.join()).toMatch(/audience: audience is required/);
    expect(problems({ keys: [], issuer: 'x', audience: 'y' }).join()).toMatch(/at least one key file/);
  });

  it('accepts trusted headers alone, and checks their names', () => {
    expect(problems({ trusted_headers: { managed: 'X-Device-Managed', device_id: 'X-Device-Id' } })).toEqual([]);
    expect(problems({ trusted_headers: {} }).join()).toMatch(/map at least one claim/);
    expect(problems({ trusted_headers: { managed: 'X-Device', compliant: 'x-device' } }).join()).toMatch(/each claim needs its own header/);
    expect(problems({ trusted_headers: { managed: 'X-Device-Posture' } }).join()).toMatch(/already carries the posture token/);
    expect(problems({ trusted_headers: { managed: 'X Device' } }).join()).toMatch(/header name/);
  });
});
