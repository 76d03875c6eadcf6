// Small HTTP helpers for Portcullis's own endpoints.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pageSecurityHeaders } from '../pages/style.ts';

export function sendHtml(res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...pageSecurityHeaders, ...headers, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | string[]> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...pageSecurityHeaders, ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function redirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(302, { ...pageSecurityHeaders, ...headers, location, 'content-length': 0 });
  res.end();
}

/** Read a small request body; undefined when it is larger than `limit` bytes. */
export async function readSmallBody(req: IncomingMessage, limit = 65_536): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Browsers navigating to a page can follow a redirect to sign in; API clients cannot. */
export function canFollowLoginRedirect(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (req.headers['x-requested-with'] !== undefined) return false;
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}
