// What one request carries through the orchestrator, for the access log and metrics.
export interface RequestRecord {
  readonly id: string;
  /** the id as JSON, quoted once for the request's access and decision lines */
  readonly idJson: string;
  readonly start: number;
  method: string;
  host: string;
  path: string;
  clientIp: string;
  /** the signed-in user's sub, when there is one */
  user: string | undefined;
  route: string;
  status: number;
  bytes: number;
  upstreamMs: number | undefined;
  error: string | undefined;
  /** why it was refused, for the log (never shown to the client beyond the error code) */
  reason: string | undefined;
}
