// Read a YAML configuration file: parse with positions, substitute ${ENV},
// validate the whole document against the schema and report every problem
// with file, line, column and key path.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument, isScalar, isMap, isSeq, visit, type Node, type Document } from 'yaml';
import { configSchema, type RawConfig } from './schema.ts';
import { ConfigError, type ConfigProblem } from '../errors.ts';

export interface LoadedConfig {
  readonly file: string;
  readonly raw: RawConfig;
  /** sha256 of the file's bytes, shown on /readyz so a rollout can be checked */
  readonly checksum: string;
  /** find where a key path such as ["routes", 2, "to"] is written, for errors found later */
  readonly locate: (path: readonly PropertyKey[]) => { line: number; column: number };
}

export type Env = Readonly<Record<string, string | undefined>>;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$/g;

/** "${NAME}" -> value, "${NAME:-default}" -> value or default, "$$" -> "$". Unset without default is an error. */
export function substituteEnv(text: string, env: Env): { value: string; missing: string[] } {
  const missing: string[] = [];
  const value = text.replace(ENV_REF, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$$') return '$';
    const v = env[name!];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    missing.push(name!);
    return '';
  });
  return { value, missing };
}

export function loadConfigFile(file: string, env: Env = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message: `cannot read the file (${code ?? String(err)})` }]);
  }
  return loadConfigText(text, file, env);
}

export function loadConfigText(text: string, file: string, env: Env = process.env): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const problems: ConfigProblem[] = [];
  const at = (offset: number | undefined) => {
    if (offset === undefined) return { line: 0, column: 0 };
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };

  for (const e of doc.errors) {
    problems.push({ file, ...at(e.pos[0]), path: '', message: e.message.split('\n')[0]! });
  }
  if (problems.length) throw new ConfigError(problems);

  const unsetEnvAt = new Set<string>();
  substituteEnvInDocument(doc, env, (node, path, message) => {
    unsetEnvAt.add(formatPath(path));
    problems.push({ file, ...at(node.range?.[0]), path: formatPath(path), message });
  });

  const locate = (path: readonly PropertyKey[]) => at(nodeAt(doc, path)?.range?.[0]);
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      for (const key of keys) {
        const path = key === undefined ? issue.path : [...issue.path, key];
        // A value emptied by an unset ${ENV} is already reported; its schema error would only repeat it.
        if (key === undefined && unsetEnvAt.has(formatPath(path))) continue;
        const message = issue.code === 'unrecognized_keys' ? `unknown key "${key}"${suggest(key!, issue.path, doc)}` : issue.message;
        const pos = key === undefined ? locate(path) : at(keyNodeAt(doc, issue.path, key)?.range?.[0]);
        problems.push({ file, ...pos, path: formatPath(path), message });
      }
    }
  }
  if (problems.length) throw new ConfigError(sortProblems(problems));
  return {
    file,
    raw: result.data!,
    checksum: createHash('sha256').update(text).digest('hex'),
    locate,
  };
}

/** By line, then column: the order an admin reads the file in. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** The deepest node that exists along the path, so an error about a missing key points at its parent. */
function nodeAt(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined = node as Node | undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) return last;
      // Point at the key for unknown keys and at the value otherwise.
      node = pair.value ?? pair.key;
      last = (pair.value as Node | null) ?? (pair.key as Node);
      if (isScalar(pair.key) && pair.value == null) last = pair.key;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      if (!node) return last;
      last = node as Node;
    } else {
      return last;
    }
  }
  return last;
}

function keyNodeAt(doc: Document, parentPath: readonly PropertyKey[], key: string): Node | undefined {
  const parent = parentPath.length ? nodeAt(doc, parentPath) : (doc.contents as Node | null) ?? undefined;
  if (!isMap(parent)) return parent;
  const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key);
  return (pair?.key as Node | undefined) ?? parent;
}

function substituteEnvInDocument(doc: Document, env: Env, report: (node: Node, path: PropertyKey[], message: string) => void) {
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const { value, missing } = substituteEnv(node.value, env);
      if (missing.length) {
        const path = pathOf(ancestors, node);
        for (const name of missing) report(node, path, `environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
      }
      node.value = value;
    },
  });
}

function pathOf(ancestors: readonly unknown[], leaf: unknown): PropertyKey[] {
  const path: PropertyKey[] = [];
  const chain = [...ancestors, leaf];
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isSeq(parent)) path.push(parent.items.indexOf(child as never));
    else if (parent && typeof parent === 'object' && 'key' in parent && 'value' in parent && (parent as { value: unknown }).value === child) {
      const k = (parent as { key: unknown }).key;
      path.push(isScalar(k) ? String(k.value) : String(k));
    }
  }
  return path;
}

function suggest(key: string, parentPath: readonly PropertyKey[], doc: Document): string {
  // Offer the closest known key so "upstreams" -> "routes" style typos are obvious.
  const known = knownKeysAt(parentPath);
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  void doc;
  return best ? `; did you mean "${best}"?` : '';
}

function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: unknown = configSchema;
  for (const key of path) {
    schema = unwrap(schema);
    const def = (schema as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def;
    if (!def) return [];
    if (def.type === 'object' && typeof key === 'string') schema = def.shape?.[key];
    else if (def.type === 'array' && typeof key === 'number') schema = def.element;
    else return [];
  }
  const def = (unwrap(schema) as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(schema: unknown): unknown {
  let s = schema as { def?: { type?: string; innerType?: unknown; in?: unknown } } | undefined;
  while (s?.def && (s.def.type === 'default' || s.def.type === 'optional' || s.def.type === 'pipe' || s.def.type === 'nullable')) {
    s = (s.def.innerType ?? s.def.in) as typeof s;
  }
  return s;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return dp[a.length]![b.length]!;
}
