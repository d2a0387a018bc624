// Filters built from map clicks, in the API's filter language: pure functions, unit-tested by
// tests/browser/unit/filters.test.mjs.

/** The filter of one map edge drawn between two nodes, from the clauses the map answer gives
 * every node (`select`: `any`, `src`, `dst`, so that ids are never parsed here): its source as
 * the client, its target as the server; null when an end is one no filter names. */
export function edgeFilter(source, target) {
  return source && target ? `(${source.src}) and (${target.dst})` : null;
}

/** `clause` added to `filter` (both kept whole). */
export const withClause = (filter, clause) => (filter ? `(${filter}) and (${clause})` : clause);

/** The filter the map toggles add: hidden endpoint classes on either end, and namespace-internal
 * edges when they are hidden. */
export function toggleClauses(hiddenClasses, internalShown) {
  const clauses = hiddenClasses.map((c) => `not class = ${c}`);
  if (!internalShown) clauses.push("scope != internal");
  return clauses.join(" and ");
}

/** Filters joined, each in parentheses, the empty ones left out. */
export const allOf = (filters) => filters.filter(Boolean).map((f) => `(${f})`).join(" and ");
