// Structured JSON logs with pino. Lines are batched and written asynchronously so
// logging never blocks a request; secrets are redacted before serialization.
// Redaction, flat records (access lines) and the output stream are handled here rather
// than by pino's `redact` option, serializer and pino.destination: those cost ~10, ~5
// and ~6 µs per access line (measured with bench/), more than the rest of the proxy's
// own work on a request. The lines are byte for byte the ones pino would write.
import { openSync, write, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
  /** write to this file descriptor, file path or destination instead of stdout (tests use a file) */
  destination?: number | string | LogDestination;
  /** write every line before returning (tests read the file right away) */
  sync?: boolean;
}

export function createLogger({ level, destination = 1, sync = false }: LogOptions): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'portcullis' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactSecrets, bindings: redactSecrets },
      hooks: { logMethod: writeFlatRecordsDirectly },
    },
    destination instanceof LogDestination ? destination : new LogDestination(typeof destination === 'number' ? destination : openSync(destination, 'a'), sync),
  );
  // pino gives child loggers an identity bindings formatter; keep theirs redacted too.
  // Children inherit this method through their prototype, so grandchildren are covered.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options = {}) {
    return child.call(this, bindings, { ...options, formatters: { ...options.formatters, bindings: options.formatters?.bindings ?? redactSecrets } });
  } as Logger['child'];
  return logger;
}

/**
 * pino's stdTimeFunctions.isoTime, same text: ',"time":"2026-11-29T20:14:04.205Z"'.
 * The date part is formatted once per second; toISOString on every line cost ~1 µs.
 */
let lastSecond = -1;
let secondPrefix = '';
export function isoTime(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  return timePrefix(second) + MILLISECONDS[now - second * 1000]!;
}

/** ',"time":"2026-11-29T20:14:04.' for this second (all but "205Z\""). */
function timePrefix(second: number): string {
  if (second !== lastSecond) {
    lastSecond = second;
    secondPrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, -4)}`;
  }
  return secondPrefix;
}

/** '000Z"' to '999Z"': a line's milliseconds, one piece each. */
const MILLISECONDS = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, '0')}Z"`);

/**
 * The same text as one flat string. V8 keeps a string made with + as a tree of its pieces,
 * and every line it goes into walks the tree again when the log batch is joined; a piece
 * kept and written on many lines is made flat once. (Array#join builds a flat string.)
 */
export function flatText(text: string): string {
  // V8 copies a joined string shorter than 13 characters: flat already.
  return text.length < 13 ? text : text.split('').join('');
}

// pino's own pieces of a line, so a line written here is the one pino would have written:
// lsCache[level] is '{"level":"info"', chindings is ',"service":"portcullis"' plus any child
// bindings (already redacted), time is the timestamp function above.
const { lsCacheSym, timeSym, chindingsSym, streamSym, msgPrefixSym } = pino.symbols as unknown as Record<string, symbol>;

/**
 * pino serializes a record field by field (~5 µs for an access line, ~10 µs for a decision
 * line); a record of plain JSON values, which is what the hot path logs, is serialized here
 * with one JSON.stringify into the same bytes (pino also uses JSON.stringify for object
 * values). Anything else (errors, class instances, secret-named fields to redact, format
 * arguments) goes through pino.
 */
function writeFlatRecordsDirectly(this: Logger, args: unknown[], method: (...args: unknown[]) => void, level: number): void {
  const [record, msg] = args;
  const pinoOf = this as unknown as Record<symbol, unknown>;
  if (args.length !== 2 || typeof msg !== 'string' || !isPlainRecord(record) || pinoOf[msgPrefixSym!] !== undefined) return void method.apply(this, args);
  const fields = JSON.stringify(record);
  const line =
    (pinoOf[lsCacheSym!] as Record<number, string>)[level]! +
    (pinoOf[timeSym!] as () => string)() +
    (pinoOf[chindingsSym!] as string) +
    (fields.length > 2 ? ',' + fields.slice(1, -1) : '') +
    ',"msg":' +
    JSON.stringify(msg) +
    '}\n';
  (pinoOf[streamSym!] as DestinationStream).write(line);
}

/** A number as JSON.stringify writes it. */
export function jsonNumber(value: number): string {
  // '' + n goes through V8's number-to-string cache; String(n) took about 600 instructions.
  return Number.isFinite(value) ? '' + value : 'null';
}

/**
 * JSON of Math.round(value * 100) / 100, as JSON.stringify writes it ("0.47", "12.3", "5"),
 * from whole numbers: turning a fraction into its shortest decimal text took about 600
 * instructions per number, and the access line has two. A unit test compares the two ways.
 */
export function jsonHundredths(value: number): string {
  const hundredths = Math.round(value * 100);
  // Outside this range, whole and fraction parts could lose digits or switch to exponent form.
  if (!(hundredths >= 0 && hundredths < 1e15)) return jsonNumber(hundredths / 100);
  const fraction = hundredths % 100;
  const whole = '' + (hundredths - fraction) / 100;
  if (fraction === 0) return whole;
  if (fraction % 10 === 0) return whole + '.' + fraction / 10;
  return whole + (fraction < 10 ? '.0' : '.') + fraction;
}

/** A string as JSON.stringify writes it; most need no escaping and are only quoted. */
export function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
}
// What JSON.stringify escapes: control characters, quote, backslash, and (as \uXXXX) lone surrogates.
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * A field of a log line (`,"host":"app.example.com"`) with the last value remembered. A
 * protected request writes its client address, method, host and path twice (decision line,
 * access line), and a client sends the same ones again and again: a value equal to the last
 * one (the same string object, or the same text) skips the check for characters to escape,
 * a regular expression run that cost about 500 instructions, and the field is one flat
 * piece of both lines. A different value costs one comparison more.
 */
export class LastJsonField {
  readonly #key: string;
  #value = '';
  #field: string;

  /** @param key what comes before the value: ',"host":' */
  constructor(key: string) {
    this.#key = key;
    this.#field = key + '""';
  }

  of(value: string): string {
    if (value !== this.#value) {
      this.#field = NEEDS_ESCAPE.test(value) ? this.#key + JSON.stringify(value) : [this.#key, '"', value, '"'].join('');
      this.#value = value;
    }
    return this.#field;
  }
}

/** The fields the access and decision lines share, one slot each; both lines name them alike. */
export const lineFields = {
  route: new LastJsonField(',"route":'),
  clientIp: new LastJsonField(',"client_ip":'),
  method: new LastJsonField(',"method":'),
  host: new LastJsonField(',"host":'),
  path: new LastJsonField(',"path":'),
  /** the access line's user: the session's sub, the same string object for a second or more */
  user: new LastJsonField(',"user":'),
} as const;

/**
 * Write a line from fields the caller serialized itself (`"type":"access",...`, no braces),
 * for the lines every request writes (access, and decision when it is protected): pino's
 * method dispatch and the fast path's walk over the record cost as much as serializing it.
 * The caller makes the fields the bytes JSON.stringify would make of the record and puts
 * nothing secret in them (nothing here redacts); the line is then the one pino would write
 * for that record (test/unit/access-log.test.ts and decision-log.test.ts compare the two).
 */
export function writePreserialized(logger: Logger, level: 'info' | 'warn', fields: string, msg: string): void {
  if (!logger.isLevelEnabled(level)) return;
  const pinoOf = logger as unknown as Record<symbol, unknown>;
  // A child logger with a message prefix: let pino put it together.
  if (pinoOf[msgPrefixSym!] !== undefined) return void logger[level](JSON.parse(`{${fields}}`) as object, msg);
  const levelJson = (pinoOf[lsCacheSym!] as Record<number, string>)[logger.levels.values[level]!]!;
  const chindings = pinoOf[chindingsSym!] as string;
  const time = pinoOf[timeSym!] as () => string;
  let line: string;
  if (time === isoTime) {
    // Five pieces and the fields: the level and second, the milliseconds, the bindings, the
    // message with the line's end, each one flat piece made once.
    const now = Date.now();
    const second = Math.floor(now / 1000);
    line = lineStart(levelJson, second) + MILLISECONDS[now - second * 1000]! + bindingsStart(chindings) + fields + lineEnd(msg);
  } else {
    line = levelJson + time() + chindings + ',' + fields + lineEnd(msg);
  }
  (pinoOf[streamSym!] as DestinationStream).write(line);
}

// '{"level":"info","time":"2026-11-29T20:14:04.' per level, for the current second.
let startsSecond = -1;
const starts = new Map<string, string>();
function lineStart(levelJson: string, second: number): string {
  if (second !== startsSecond) {
    startsSecond = second;
    starts.clear();
  }
  let start = starts.get(levelJson);
  if (start === undefined) starts.set(levelJson, (start = flatText(levelJson + timePrefix(second))));
  return start;
}

// ',"service":"portcullis",' (with a child logger's bindings): the last one kept.
let lastBindings = '';
let lastBindingsStart = ',';
function bindingsStart(chindings: string): string {
  if (chindings !== lastBindings) {
    lastBindingsStart = flatText(chindings + ',');
    lastBindings = chindings;
  }
  return lastBindingsStart;
}

// The hot path's messages are a handful of constants ("request", "allowed", ...): each line
// end (',"msg":"request"}\n') is made once.
const lineEnds = new Map<string, string>();
function lineEnd(msg: string): string {
  let end = lineEnds.get(msg);
  if (end === undefined) {
    end = ',"msg":' + jsonString(msg) + '}\n';
    if (lineEnds.size < 64) lineEnds.set(msg, (end = flatText(end)));
  }
  return end;
}

/**
 * A plain object whose values are strings, numbers, booleans, undefined, or plain arrays and
 * objects of those (a few levels deep), with nothing redactSecrets would change: no
 * secret-named property in an object value.
 */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false;
  for (const key in value) {
    const field = (value as Record<string, unknown>)[key];
    if (typeof field !== 'object') {
      if (!isScalar(field)) return false;
    } else if (!isPlainJson(field, 3) || (!Array.isArray(field) && hasSecretKey(field as object))) return false;
  }
  return true;
}

function isScalar(value: unknown): boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' || type === 'undefined';
}

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function isPlainJson(value: unknown, depth: number): boolean {
  if (typeof value !== 'object') return isScalar(value);
  if (depth === 0 || value === null) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!isPlainJson(item, depth - 1)) return false;
    return true;
  }
  if (!isPlainObject(value)) return false;
  for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth - 1)) return false;
  return true;
}

function hasSecretKey(value: object): boolean {
  for (const secret of SECRET_KEYS) if (secret in value) return true;
  return false;
}

export const REDACTED = '[redacted]';

/** Property names whose values never reach a log line, one level down: `headers.cookie`, `tokens.id_token`. */
const SECRET_KEYS = ['authorization', 'cookie', 'token', 'access_token', 'id_token', 'refresh_token', 'client_secret'];

/**
 * Replace every secret-named property of the logged object's object values with "[redacted]".
 * The caller's objects are copied, never changed. Scalars (all an access line holds) cost one
 * typeof each, where pino's wildcard redaction re-parsed its paths for every value.
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const key in obj) {
    const value = obj[key];
    if (value === null || typeof value !== 'object') continue;
    let copy: Record<string, unknown> | undefined;
    for (const secret of SECRET_KEYS) {
      if (!(secret in value)) continue;
      copy ??= censorableCopy(value);
      copy[secret] = REDACTED;
    }
    if (copy) {
      if (out === obj) out = { ...obj };
      out[key] = copy;
    }
  }
  return out;
}

function censorableCopy(value: object): Record<string, unknown> {
  if (Array.isArray(value)) return Object.assign([], value) as unknown as Record<string, unknown>;
  // An Error's message and stack are not enumerable: keep them, as pino's error serializer would.
  if (value instanceof Error) return Object.assign(Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>, { message: value.message, stack: value.stack }, value);
  return { ...value };
}

/**
 * Write a batch once it holds this many characters; quieter periods are flushed by the timer.
 * Each write costs 20-40 µs of the event loop's time whatever its size, so batches are large.
 */
const BATCH_CHARS = 64 * 1024;
/** room for a batch of BATCH_CHARS and a few long lines after it, at up to 3 bytes per character */
const BATCH_BUFFER_BYTES = 256 * 1024;
/**
 * At most this many characters wait for a slow or stuck output (a log collector that stopped
 * reading stdout); beyond it, lines are dropped and counted, and a line saying how many is
 * written once the output moves again. Without a bound the buffer would grow until the process
 * ran out of memory or past V8's longest string, and a proxy must not stop for its log.
 */
const MAX_BUFFERED_CHARS = 32 * 1024 * 1024;
/** A line waits at most this long (plus the write itself) before it is written. */
const FLUSH_INTERVAL_MS = 100;
const RETRY_BUSY_MS = 50;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * pino's output stream: lines are joined and written with one write per batch, at most one
 * write in flight, in order. What is still buffered is written synchronously when the process
 * exits. With `sync`, every line is written before write() returns.
 */
export class LogDestination implements DestinationStream {
  readonly #fd: number;
  readonly #sync: boolean;
  #lines: string[] = [];
  #chars = 0;
  #dropped = 0;
  #writing = false;
  #waiting: (() => void)[] = [];
  #reportedError = false;
  /** the usual batch's bytes, written while no write is in flight (see #encode) */
  #batchBuffer: Buffer | undefined;
  /** whole lines another process wrote (see relayLines), counted in #chars by their bytes */
  #relayed: Buffer[] = [];

  constructor(fd: number, sync = false) {
    this.#fd = fd;
    this.#sync = sync;
    if (!sync) watchForExit(this);
  }

  write(line: string): boolean {
    if (this.#sync) {
      this.#writeSync(Buffer.from(line));
      return true;
    }
    if (this.#chars + line.length > MAX_BUFFERED_CHARS) {
      this.#dropped++;
      return true;
    }
    this.#lines.push(line);
    this.#chars += line.length;
    if (this.#chars >= BATCH_CHARS) this.#writeBatch();
    return true;
  }

  /** Whole lines already encoded, from a worker's log (relayLines): written like lines of this process. */
  writeBytes(lines: Buffer): void {
    if (this.#sync) return this.#writeSync(lines);
    if (this.#chars + lines.length > MAX_BUFFERED_CHARS) {
      for (let i = lines.indexOf(10); i !== -1; i = lines.indexOf(10, i + 1)) this.#dropped++;
      return;
    }
    this.#relayed.push(lines);
    this.#chars += lines.length;
    if (this.#chars >= BATCH_CHARS) this.#writeBatch();
  }

  /** Start writing what is buffered; `done` is called once it is all written. */
  flush(done: (err?: Error) => void = () => {}): void {
    if (this.#sync || (!this.#writing && this.#chars === 0)) return done();
    this.#waiting.push(done);
    this.#writeBatch();
  }

  /** Write everything still buffered before returning (on exit). */
  flushSync(): void {
    if (this.#chars === 0) return;
    // Not into the kept buffer: a write of it may still be in flight.
    this.#writeSync(this.#take((text) => Buffer.from(text)));
  }

  /** For the periodic timer: a batch that has waited long enough. */
  writePending(): void {
    if (this.#chars > 0) this.#writeBatch();
  }

  /** Everything buffered, as the bytes of one write: this process's lines, then relayed ones. */
  #take(encode: (text: string) => Buffer): Buffer {
    if (this.#dropped > 0) {
      // In pino's shape, so whatever parses the log parses this too.
      this.#lines.push(`{"level":"warn","time":"${new Date().toISOString()}","service":"portcullis","type":"log","dropped":${this.#dropped},"msg":"log lines dropped: the log output did not keep up"}\n`);
      this.#dropped = 0;
    }
    const text = this.#lines.length === 1 ? this.#lines[0]! : this.#lines.join('');
    const relayed = this.#relayed;
    this.#lines = [];
    this.#relayed = [];
    this.#chars = 0;
    if (relayed.length === 0) return encode(text);
    if (text !== '') relayed.unshift(encode(text));
    return relayed.length === 1 ? relayed[0]! : Buffer.concat(relayed);
  }

  #writeBatch(): void {
    if (this.#writing || this.#chars === 0) return;
    this.#writing = true;
    this.#writeAsync(this.#take((text) => this.#encode(text)), 0);
  }

  /**
   * The batch as UTF-8. Buffer.from would first measure the string's UTF-8 length in a pass of
   * its own; a batch that surely fits (3 bytes per UTF-16 unit) is written into a buffer kept
   * for it instead, free again once its write is done (one write is in flight at a time).
   */
  #encode(data: string): Buffer {
    if (data.length * 3 > BATCH_BUFFER_BYTES) return Buffer.from(data);
    this.#batchBuffer ??= Buffer.allocUnsafeSlow(BATCH_BUFFER_BYTES);
    return this.#batchBuffer.subarray(0, this.#batchBuffer.write(data, 0));
  }

  #writeAsync(buf: Buffer, offset: number): void {
    write(this.#fd, buf, offset, buf.length - offset, null, (err, written) => {
      if (err) {
        // A full non-blocking pipe (stdout read by a slow collector): try the same bytes again shortly.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return void setTimeout(() => this.#writeAsync(buf, offset), RETRY_BUSY_MS).unref();
        this.#reportError(err);
      } else if (offset + written < buf.length) {
        return this.#writeAsync(buf, offset + written);
      }
      this.#writing = false;
      if (this.#chars >= BATCH_CHARS || (this.#waiting.length > 0 && this.#chars > 0)) return this.#writeBatch();
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const done of waiting) done();
    });
  }

  #writeSync(buf: Buffer): void {
    let offset = 0;
    while (offset < buf.length) {
      try {
        offset += writeSync(this.#fd, buf, offset, buf.length - offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(PAUSE, 0, 0, 10); // a full non-blocking pipe: wait for the reader, without spinning
          continue;
        }
        this.#reportError(err as Error);
        return;
      }
    }
  }

  // The log itself cannot carry this message; stderr can, once. Serving goes on without a log
  // rather than stopping every user's traffic.
  #reportError(err: Error): void {
    if (this.#reportedError) return;
    this.#reportedError = true;
    process.stderr.write(`portcullis: cannot write the log (${err.message}); log lines are being lost\n`);
  }
}

/** A worker's line longer than this (it would be a bug) is passed on in pieces rather than held. */
const MAX_RELAYED_LINE_BYTES = 1024 * 1024;
const NEWLINE = Buffer.from('\n');

/**
 * In the primary, with workers, when stdout is a pipe: copy one worker's log (its stdout, a
 * pipe to the primary of its own) into this process's destination, whole lines at a time.
 * The primary is then the one process writing the real pipe, so nothing has to keep other
 * writers' lines from interleaving there: workers write whole batches into their own pipes,
 * and the primary writes whole batches too, instead of pieces of at most PIPE_BUF (4 KiB)
 * bytes, which is all a pipe shared by several processes takes whole (each such write a trip
 * through libuv's thread pool). Resolves when the worker's pipe ends.
 */
export function relayLines(from: Readable, to: LogDestination): Promise<void> {
  let partial: Buffer | undefined;
  from.on('data', (chunk: Buffer) => {
    const data = partial === undefined ? chunk : Buffer.concat([partial, chunk]);
    const end = data.lastIndexOf(10) + 1;
    if (end > 0) to.writeBytes(data.subarray(0, end));
    partial = end < data.length ? Buffer.from(data.subarray(end)) : undefined;
    if (partial !== undefined && partial.length > MAX_RELAYED_LINE_BYTES) {
      to.writeBytes(Buffer.concat([partial, NEWLINE]));
      partial = undefined;
    }
  });
  return new Promise((resolve) => {
    const finish = () => {
      // A worker that died in the middle of a line: keep what it wrote, as a line of its own.
      if (partial !== undefined) to.writeBytes(Buffer.concat([partial, NEWLINE]));
      partial = undefined;
      resolve();
    };
    from.once('end', finish);
    from.once('error', finish);
  });
}

// One timer and one exit hook for every asynchronous destination. Weak references, so a
// logger that is no longer used (many are created in tests) can still be collected.
const destinations = new Set<WeakRef<LogDestination>>();
let timer: NodeJS.Timeout | undefined;

function watchForExit(dest: LogDestination): void {
  destinations.add(new WeakRef(dest));
  if (timer) return;
  timer = setInterval(() => forEachDestination((d) => d.writePending()), FLUSH_INTERVAL_MS).unref();
  process.on('exit', () => forEachDestination((d) => d.flushSync()));
}

function forEachDestination(fn: (d: LogDestination) => void): void {
  for (const ref of destinations) {
    const d = ref.deref();
    if (d) fn(d);
    else destinations.delete(ref);
  }
}
