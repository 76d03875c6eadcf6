// email_domains: [example.com, ...] — the domain of the user's verified email address.
// Exactly the part after the one "@", compared exactly (ASCII case-insensitive):
// never a suffix or substring match, so evilexample.com and example.com.evil.com do
// not pass for example.com; subdomains must be listed one by one. An address with no
// "@" or several is malformed (unknown), never parsed by guessing.
import type { Criterion } from './types.ts';
import { asciiLower } from './types.ts';
import { verifiedEmail } from './emails.ts';
import { listWords, quoteFact } from '../reasons.ts';

/** The domain after the single "@", or undefined when there is not exactly one "@" or nothing after it. */
export function emailDomain(email: string): string | undefined {
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return undefined;
  return email.slice(at + 1);
}

export function compileEmailDomains(domains: readonly string[]): Criterion {
  const allowed = new Set(domains.map(asciiLower));
  return {
    name: 'email_domains',
    base: 'email-domain',
    describe: `your verified email address is in the domain ${listWords(domains)}`,
    passCode: 'email-domain-ok',
    test(facts) {
      const v = verifiedEmail(facts);
      if (!('email' in v)) return 'unknown';
      const domain = emailDomain(v.email);
      if (domain === undefined) return 'unknown';
      // Non-ASCII domains (IDN, homoglyphs) are left as they are by asciiLower and so never equal an ASCII domain.
      return allowed.has(asciiLower(domain)) ? 'pass' : 'fail';
    },
    explain(facts) {
      const v = verifiedEmail(facts);
      if (!('email' in v)) return { code: v.problem, message: v.message };
      if (emailDomain(v.email) === undefined) {
        return { code: 'email-malformed', message: `This app decides by email domain, and ${quoteFact(v.email)} is not an address with exactly one "@".` };
      }
      return { code: 'email-domain-unauthorized', message: `This app is open to addresses at ${listWords(domains)}; yours is ${quoteFact(v.email)}.` };
    },
  };
}
