// Bounds for the maps that keep recently used sessions, kept in insertion (use) order.

/**
 * Deletes the oldest entries of `map` until it holds at most `keep`, in one pass. Dropping
 * one entry at a time from the front on every insert is slow in V8: a deleted entry stays a
 * hole in the map's table until the table is rehashed, and every new iterator walks over all
 * those holes before it reaches the first live entry, thousands of them in a map of thousands.
 */
export function dropOldest<K, V>(map: Map<K, V>, keep: number): void {
  let excess = map.size - keep;
  if (excess <= 0) return;
  for (const key of map.keys()) {
    map.delete(key);
    if (--excess === 0) return;
  }
}
