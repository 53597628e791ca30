/**
 * A bounded memory of recent event ids: `seen(id)` says whether `id` came before (and
 * remembers it); past `capacity` ids, the oldest is forgotten first.
 *
 * @param capacity - how many ids to remember (at least 1)
 * @returns a function that is `true` for an id already seen
 */
export function createDedupe(capacity: number): (id: string) => boolean {
  const ids = new Set<string>();
  return (id) => {
    if (ids.has(id)) return true;
    ids.add(id);
    if (ids.size > capacity) ids.delete(ids.values().next().value as string);
    return false;
  };
}
