// A minimal MaxMind DB (MMDB v2) writer, for tests only: real country databases are
// large and licensed, and tests need a few networks they choose themselves.
// Format: https://maxmind.github.io/MaxMind-DB/ — a binary search tree (one level per
// address bit, 24-bit records), 16 zero bytes, a data section of encoded values, then
// the "\xAB\xCD\xEFMaxMind.com" marker and the metadata map.
import ipaddr from 'ipaddr.js';

export type MmdbValue = string | number | boolean | readonly MmdbValue[] | { readonly [key: string]: MmdbValue };

export interface MmdbNetwork {
  /** "81.2.69.0/24" or "2a02:2e0::/32" */
  readonly cidr: string;
  readonly data: MmdbValue;
}

export interface MmdbOptions {
  /** 6 (default): an IPv6 tree with IPv4 under ::/96, as MaxMind ships; 4: an IPv4-only tree */
  readonly ipVersion?: 4 | 6;
  readonly databaseType?: string;
  readonly buildEpoch?: number;
}

const RECORD_SIZE = 24;
const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'); // \xAB\xCD\xEF MaxMind.com
const TYPE = { string: 2, uint16: 5, uint32: 6, map: 7, uint64: 9, array: 11, boolean: 14 } as const;

interface TrieNode {
  /** index 0: bit 0 (left), index 1: bit 1 (right) */
  children: [Child, Child];
}
type Child = { kind: 'empty' } | { kind: 'node'; node: TrieNode } | { kind: 'data'; offset: number };

/** Build an MMDB file mapping each network to its data. Networks must not overlap. */
export function writeMmdb(networks: readonly MmdbNetwork[], options: MmdbOptions = {}): Buffer {
  const ipVersion = options.ipVersion ?? 6;
  const data = new DataWriter();
  const root: TrieNode = { children: [{ kind: 'empty' }, { kind: 'empty' }] };
  for (const network of networks) {
    const bits = networkBits(network.cidr, ipVersion);
    if (bits.length === 0) throw new Error(`${network.cidr}: a /0 network cannot be stored in this minimal writer`);
    insert(root, bits, data.append(network.data));
  }

  // Number nodes breadth-first; the root is node 0, as the format requires.
  const order: TrieNode[] = [root];
  const numbers = new Map<TrieNode, number>([[root, 0]]);
  for (let i = 0; i < order.length; i++) {
    for (const child of order[i]!.children) {
      if (child.kind === 'node') {
        numbers.set(child.node, order.length);
        order.push(child.node);
      }
    }
  }
  const nodeCount = order.length;
  const recordValue = (child: Child): number =>
    child.kind === 'empty' ? nodeCount : child.kind === 'node' ? numbers.get(child.node)! : nodeCount + 16 + child.offset;

  const tree = Buffer.alloc(nodeCount * (RECORD_SIZE / 4));
  order.forEach((node, i) => {
    tree.writeUIntBE(recordValue(node.children[0]), i * 6, 3);
    tree.writeUIntBE(recordValue(node.children[1]), i * 6 + 3, 3);
  });

  const metadata = new DataWriter();
  metadata.appendRaw(
    encodeMap([
      ['binary_format_major_version', encodeUint(TYPE.uint16, 2)],
      ['binary_format_minor_version', encodeUint(TYPE.uint16, 0)],
      ['build_epoch', encodeUint(TYPE.uint64, options.buildEpoch ?? 1_767_225_600)],
      ['database_type', encodeValue(options.databaseType ?? 'Portcullis-Test-Country')],
      ['description', encodeValue({ en: 'Portcullis test country database' })],
      ['ip_version', encodeUint(TYPE.uint16, ipVersion)],
      ['languages', encodeValue(['en'])],
      ['node_count', encodeUint(TYPE.uint32, nodeCount)],
      ['record_size', encodeUint(TYPE.uint16, RECORD_SIZE)],
    ]),
  );
  return Buffer.concat([tree, Buffer.alloc(16), data.bytes(), METADATA_MARKER, metadata.bytes()]);
}

function insert(root: TrieNode, bits: readonly number[], offset: number): void {
  let node = root;
  for (let depth = 0; depth < bits.length; depth++) {
    const bit = bits[depth]!;
    const child = node.children[bit]!;
    if (depth === bits.length - 1) {
      if (child.kind !== 'empty') throw new Error('overlapping networks are not supported by this minimal writer');
      node.children[bit] = { kind: 'data', offset };
      return;
    }
    if (child.kind === 'data') throw new Error('overlapping networks are not supported by this minimal writer');
    if (child.kind === 'empty') {
      const next: TrieNode = { children: [{ kind: 'empty' }, { kind: 'empty' }] };
      node.children[bit] = { kind: 'node', node: next };
      node = next;
    } else node = child.node;
  }
}

/** The network's prefix as bits from the top of the tree; IPv4 sits under ::/96 in an IPv6 tree. */
function networkBits(cidr: string, ipVersion: 4 | 6): number[] {
  const [address, prefix] = ipaddr.parseCIDR(cidr);
  const bytes = address.toByteArray();
  if (address.kind() === 'ipv6' && ipVersion === 4) throw new Error(`${cidr}: an IPv4-only database cannot hold IPv6 networks`);
  const lead = address.kind() === 'ipv4' && ipVersion === 6 ? 96 : 0;
  const bits: number[] = new Array<number>(lead).fill(0);
  for (let i = 0; i < prefix; i++) bits.push((bytes[i >> 3]! >> (7 - (i & 7))) & 1);
  return bits;
}

class DataWriter {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  /** Append an encoded value and return its offset in the section. */
  append(value: MmdbValue): number {
    return this.appendRaw(encodeValue(value));
  }

  appendRaw(bytes: Buffer): number {
    const offset = this.length;
    this.chunks.push(bytes);
    this.length += bytes.length;
    return offset;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function encodeValue(value: MmdbValue): Buffer {
  if (typeof value === 'string') {
    const payload = Buffer.from(value, 'utf8');
    return Buffer.concat([controlBytes(TYPE.string, payload.length), payload]);
  }
  if (typeof value === 'boolean') return controlBytes(TYPE.boolean, value ? 1 : 0);
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`${value}: only unsigned 32-bit integers are supported`);
    return encodeUint(TYPE.uint32, value);
  }
  if (Array.isArray(value)) {
    const items = (value as readonly MmdbValue[]).map(encodeValue);
    return Buffer.concat([controlBytes(TYPE.array, items.length), ...items]);
  }
  return encodeMap(Object.entries(value as { readonly [key: string]: MmdbValue }).map(([k, v]) => [k, encodeValue(v)]));
}

function encodeMap(entries: readonly (readonly [string, Buffer])[]): Buffer {
  return Buffer.concat([controlBytes(TYPE.map, entries.length), ...entries.flatMap(([key, value]) => [encodeValue(key), value])]);
}

/** Unsigned integers use as few big-endian bytes as the value needs (0 takes none). */
function encodeUint(type: number, value: number): Buffer {
  const payload: number[] = [];
  for (let v = BigInt(value); v > 0n; v >>= 8n) payload.unshift(Number(v & 0xffn));
  return Buffer.concat([controlBytes(type, payload.length), Buffer.from(payload)]);
}

/** Control byte: type in the top 3 bits (0 + an extra byte for extended types), size in the low 5 and following bytes. */
function controlBytes(type: number, size: number): Buffer {
  const out: number[] = [];
  let sizeBits: number;
  const sizeExtra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) {
    sizeBits = 29;
    sizeExtra.push(size - 29);
  } else if (size < 285 + 65_536) {
    sizeBits = 30;
    const rest = size - 285;
    sizeExtra.push(rest >> 8, rest & 0xff);
  } else {
    sizeBits = 31;
    const rest = size - 65_821;
    sizeExtra.push((rest >> 16) & 0xff, (rest >> 8) & 0xff, rest & 0xff);
  }
  if (type <= 7) out.push((type << 5) | sizeBits);
  else out.push(sizeBits, type - 7);
  return Buffer.from([...out, ...sizeExtra]);
}
