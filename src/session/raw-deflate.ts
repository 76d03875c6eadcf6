// Raw DEFLATE with a preset dictionary, through one compressor and one decompressor that
// are reset and reused for every call.
//
// Why not node:zlib's deflateRawSync / inflateRawSync: each call creates a native zlib
// handle, and its C++ side (the dictionary copy among it) is freed only when the garbage
// collector gets to the handle's JavaScript object. Thousands of calls between collections
// add up to tens of MiB of malloc'd memory; malloc keeps those pages once they are freed.
// Measured: 20,000 sign-ins grew the process's malloc heap by about 35 MiB for good, and
// 20,000 session decodes by about 65 MiB. pako's port of zlib keeps its state in ordinary
// typed arrays allocated once here, so a call allocates nothing that outlives it but its
// result; and it writes byte for byte what node:zlib writes with the same settings
// (test/unit/session-codec.test.ts checks both ways), so stored records do not change.
import {
  ZStream,
  Z_BUF_ERROR,
  Z_FINISH,
  Z_OK,
  Z_STREAM_END,
  zlibDeflate,
  zlibDeflateInit2,
  zlibDeflateReset,
  zlibDeflateSetDictionary,
  zlibInflate,
  zlibInflateInit2,
  zlibInflateReset,
  zlibInflateSetDictionary,
} from 'pako';

const DEFLATED = 8;
/** negative: raw DEFLATE, no zlib header or checksum; 15: the 32 KiB window, zlib's default */
const RAW_WINDOW_BITS = -15;
const MEM_LEVEL = 8;
const DEFAULT_STRATEGY = 0;
const FIRST_OUTPUT_BYTES = 16 * 1024;

export class RawDeflate {
  readonly #dictionary: Uint8Array;
  readonly #level: number;
  #compressor: ZStream | undefined;
  #decompressor: ZStream | undefined;
  /** output space, reused by every call; grown when a call needs more */
  #output = new Uint8Array(FIRST_OUTPUT_BYTES);

  constructor(dictionary: Uint8Array, level: number) {
    this.#dictionary = dictionary;
    this.#level = level;
  }

  /**
   * The raw DEFLATE stream of `input`, as node:zlib's deflateRawSync writes it with the same level
   * and dictionary, in shared space: copy it out before the next call.
   */
  compress(input: Uint8Array): Uint8Array {
    const stream = (this.#compressor ??= this.#newCompressor());
    check(zlibDeflateReset(stream), 'reset');
    check(zlibDeflateSetDictionary(stream, this.#dictionary), 'set the dictionary');
    this.#start(stream, input);
    for (;;) {
      const status = zlibDeflate(stream, Z_FINISH);
      if (status === Z_STREAM_END) return this.#output.subarray(0, stream.next_out);
      check(status, 'compress');
      this.#growOutput(stream, Infinity);
    }
  }

  /**
   * The bytes a raw DEFLATE stream holds, in shared space: read them before the next call.
   * Throws on a broken stream, on bytes after its end, and past maxBytes of output.
   */
  decompress(input: Uint8Array, maxBytes: number): Uint8Array {
    const stream = (this.#decompressor ??= this.#newDecompressor());
    check(zlibInflateReset(stream), 'reset');
    check(zlibInflateSetDictionary(stream, this.#dictionary), 'set the dictionary');
    this.#start(stream, input);
    for (;;) {
      const status = zlibInflate(stream, Z_FINISH);
      if (status === Z_STREAM_END) {
        if (stream.avail_in !== 0) throw new RangeError('bytes after the end of the compressed stream');
        if (stream.next_out > maxBytes) throw new RangeError(`decompressed to more than ${maxBytes} bytes`);
        return this.#output.subarray(0, stream.next_out);
      }
      // Z_BUF_ERROR with output space left: the input ended before the stream did.
      if ((status !== Z_OK && status !== Z_BUF_ERROR) || stream.avail_out !== 0) throw new RangeError(`cannot decompress: ${stream.msg || `zlib status ${status}`}`);
      this.#growOutput(stream, maxBytes);
    }
  }

  #newCompressor(): ZStream {
    const stream = new ZStream();
    check(zlibDeflateInit2(stream, this.#level, DEFLATED, RAW_WINDOW_BITS, MEM_LEVEL, DEFAULT_STRATEGY), 'start a compressor');
    return stream;
  }

  #newDecompressor(): ZStream {
    const stream = new ZStream();
    check(zlibInflateInit2(stream, RAW_WINDOW_BITS), 'start a decompressor');
    return stream;
  }

  /** All of `input` to read, the whole shared space to write into. */
  #start(stream: ZStream, input: Uint8Array): void {
    stream.input = input;
    stream.next_in = 0;
    stream.avail_in = input.length;
    stream.output = this.#output as Uint8Array<ArrayBuffer>;
    stream.next_out = 0;
    stream.avail_out = this.#output.length;
  }

  /** Twice the space, what was written so far kept; refused once the output would pass maxBytes. */
  #growOutput(stream: ZStream, maxBytes: number): void {
    if (this.#output.length > maxBytes) throw new RangeError(`decompressed to more than ${maxBytes} bytes`);
    const bigger = new Uint8Array(this.#output.length * 2);
    bigger.set(this.#output.subarray(0, stream.next_out));
    this.#output = bigger;
    stream.output = bigger;
    stream.avail_out = bigger.length - stream.next_out;
  }
}

function check(status: number, what: string): void {
  if (status !== Z_OK) throw new Error(`zlib could not ${what} (status ${status})`);
}
