// Requests Node's parser refuses before they reach the handler: malformed framing
// (smuggling attempts such as CL+TE or bad chunking), oversized headers, slow headers.
import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';

export function handleClientError(err: Error & { code?: string }, socket: Socket, logger: Logger): void {
  const code = err.code ?? 'unknown';
  logger.info({ type: 'client_error', code, client_ip: socket.remoteAddress }, 'refused malformed request');
  if (!socket.writable || code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, text] =
    code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large']
      : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT'
        ? [408, 'Request Timeout']
        : [400, 'Bad Request'];
  const body = JSON.stringify({ error: status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'bad_request', status });
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
}

/**
 * A connection that never sends a byte must not hold a slot of max_connections. Node's own
 * header check catches it too, but only on its periodic sweep (every
 * connectionsCheckingInterval, so up to one and a half header_timeouts), and it answers a
 * 408 to a client that asked nothing. This closes the socket at the deadline itself.
 */
export function closeIfSilent(socket: Socket, timeoutMs: number): void {
  if (timeoutMs <= 0) return;
  const timer = setTimeout(() => {
    if (socket.bytesRead === 0) socket.destroy();
  }, timeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
