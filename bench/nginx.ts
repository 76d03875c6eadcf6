// nginx rows: nginx as a plain reverse proxy, and nginx with auth_request to a small
// Redis-backed session check (bench/nginx-auth-check.ts), in front of the same upstream.
// One nginx worker process: Portcullis's rows are one process too (except workers: auto).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const NGINX = process.env.BENCH_NGINX ?? '/usr/sbin/nginx';

export function nginxInstalled(): boolean {
  return existsSync(NGINX);
}

export interface NginxSettings {
  readonly dir: string;
  readonly port: number;
  /** http://127.0.0.1:PORT/ */
  readonly upstreamUrl: string;
  /** port of the auth_request session check; none for the plain proxy */
  readonly authCheckPort?: number;
  /** running as root: workers run as root too, so they can write into the bench's private temp directory */
  readonly asRoot: boolean;
}

/** Pure: nginx.conf for one row. Access log on, as for Portcullis. */
export function nginxConfig(s: NginxSettings): string {
  const upstream = new URL(s.upstreamUrl);
  const f = (name: string) => join(s.dir, name);
  const auth = s.authCheckPort !== undefined;
  return `# written by bench/nginx.ts
${s.asRoot ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${f('nginx.pid')};
error_log ${f('nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log ${f('nginx-access.log')};
  client_body_temp_path ${f('client_body')};
  proxy_temp_path ${f('proxy')};
  fastcgi_temp_path ${f('fastcgi')};
  uwsgi_temp_path ${f('uwsgi')};
  scgi_temp_path ${f('scgi')};
  upstream app { server ${upstream.host}; keepalive 64; keepalive_requests 1000000; }
${auth ? `  upstream session_check { server 127.0.0.1:${s.authCheckPort}; keepalive 64; keepalive_requests 1000000; }\n` : ''}  server {
    listen 127.0.0.1:${s.port};
    keepalive_requests 1000000;
    location / {
${auth ? '      auth_request /__session_check;\n' : ''}      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
${
  auth
    ? `    location = /__session_check {
      internal;
      proxy_pass http://session_check/check;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
`
    : ''
}  }
}
`;
}
