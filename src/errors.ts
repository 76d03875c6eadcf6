// Every error Portcullis answers a request with: a stable code, an HTTP status,
// a title for people and a hint that tells them (or their admin) what to do.
// The same entry feeds the HTML page, the JSON body and the access log.

export interface ErrorEntry {
  readonly status: number;
  readonly title: string;
  readonly hint: string;
}

export const errorCatalogue = {
  bad_request: {
    status: 400,
    title: 'Bad request',
    hint: 'The request could not be understood. Check the address and try again.',
  },
  ambiguous_path: {
    status: 400,
    title: 'This address is not allowed',
    hint: 'The path contains encoded slashes, encoded dot segments, NUL bytes, invalid percent-encoding or ".." that leaves the site. Use a plain path.',
  },
  bad_host: {
    status: 400,
    title: 'Bad Host header',
    hint: 'The request named no host, several hosts, or a host that is not a valid name.',
  },
  unknown_host: {
    status: 404,
    title: 'No application here',
    hint: 'Portcullis serves no application at this address. Check the URL, or ask your administrator to add a route for it.',
  },
  unknown_endpoint: {
    status: 404,
    title: 'Not found',
    hint: 'There is no Portcullis page at this address.',
  },
  headers_too_large: {
    status: 431,
    title: 'Request headers too large',
    hint: 'The request carried too many or too large headers. Clearing this site\'s cookies usually helps.',
  },
  websockets_disabled: {
    status: 400,
    title: 'WebSockets are not enabled here',
    hint: 'This route does not accept WebSocket connections. An administrator can set "websockets: true" on the route.',
  },
  upgrade_not_supported: {
    status: 400,
    title: 'Protocol upgrade not supported',
    hint: 'Only WebSocket upgrades are forwarded.',
  },
  login_required: {
    status: 401,
    title: 'Sign-in required',
    hint: 'Sign in to continue: open this address in a browser, or send the request with a valid session.',
  },
  access_denied: {
    status: 403,
    title: 'Access denied',
    hint: 'The access policy of this app does not let this request through. The reasons say what failed; if you think you should have access, contact your administrator and quote the request id.',
  },
  auth_not_configured: {
    status: 503,
    title: 'Sign-in is not available',
    hint: 'This route requires sign-in, but no identity provider is configured. An administrator must configure one or mark the route "public: true".',
  },
  session_store_unavailable: {
    status: 503,
    title: 'Sessions are temporarily unavailable',
    hint: 'Portcullis cannot reach its session store, so it cannot check who you are and lets nobody through. Try again in a moment; if it keeps happening, tell your administrator and quote the request id.',
  },
  idp_unavailable: {
    status: 503,
    title: 'Sign-in is temporarily unavailable',
    hint: 'Portcullis cannot reach the identity provider right now. Wait a moment and try again; if it keeps happening, tell your administrator and quote the request id.',
  },
  upstream_unreachable: {
    status: 502,
    title: 'The application is not responding',
    hint: 'Portcullis could not reach the application behind this address. Try again in a moment; if it keeps happening, tell the application\'s owners and quote the request id.',
  },
  upstream_timeout: {
    status: 504,
    title: 'The application took too long',
    hint: 'The application behind this address did not answer in time. Try again in a moment; if it keeps happening, tell the application\'s owners and quote the request id.',
  },
  upstream_bad_response: {
    status: 502,
    title: 'The application sent a broken response',
    hint: 'The application behind this address answered with something Portcullis could not pass on. Tell the application\'s owners and quote the request id.',
  },
  rate_limited: {
    status: 429,
    title: 'Too many requests',
    hint: 'You sent more requests than this address allows in a short time. Wait for the number of seconds in Retry-After, then try again; if you keep hitting the limit, ask your administrator to raise it.',
  },
  shutting_down: {
    status: 503,
    title: 'Restarting',
    hint: 'This Portcullis instance is shutting down. Try again in a moment.',
  },
  internal_error: {
    status: 500,
    title: 'Something went wrong',
    hint: 'Portcullis hit an unexpected error. Try again; if it keeps happening, tell your administrator and quote the request id.',
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof errorCatalogue;

/** A problem with a configuration file: where it is and what is wrong. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number; // 1-based, 0 when the problem has no single place
  readonly column: number;
  readonly path: string; // key path such as routes[2].to
  readonly message: string;
}

export function formatConfigProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** Thrown when a configuration cannot be loaded; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => '  ' + formatConfigProblem(p)).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
