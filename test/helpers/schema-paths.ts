// Every key path of the configuration schema, as README documents them: "listen.tls.cert", "routes[].name".
import { configSchema } from '../../src/config/schema.ts';

type Def = { type?: string; shape?: Record<string, unknown>; element?: unknown; innerType?: unknown; in?: unknown; options?: unknown[] };

function unwrap(schema: unknown): Def | undefined {
  let def = (schema as { def?: Def } | undefined)?.def;
  while (def && ['default', 'optional', 'nullable', 'pipe', 'prefault', 'readonly'].includes(def.type ?? '')) {
    def = ((def.innerType ?? def.in) as { def?: Def } | undefined)?.def;
  }
  return def;
}

export function schemaKeyPaths(schema: unknown = configSchema, prefix = ''): string[] {
  const def = unwrap(schema);
  if (!def) return [];
  if (def.type === 'object' && def.shape) {
    const out: string[] = [];
    for (const [key, child] of Object.entries(def.shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      out.push(path, ...schemaKeyPaths(child, path));
    }
    return out;
  }
  if (def.type === 'array') return schemaKeyPaths(def.element, `${prefix}[]`);
  // Unions (an inline policy or a policy name) and records are languages of their own,
  // documented in docs/policy.md; README documents the key that holds them.
  return [];
}
