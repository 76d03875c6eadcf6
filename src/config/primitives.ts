// Small value types shared by every part of the configuration schema.
import { z } from 'zod';

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "500ms", "10m", "1h", "7d" -> milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * durationUnits[m[2]!]!);
}

export const duration = z
  .string({ error: 'expected a duration such as "30s", "500ms", "10m" or "1h"' })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write a number and a unit: ms, s, m, h or d (for example "30s")` });
      return z.NEVER;
    }
    return ms;
  });
