// Filters built from map clicks, in the API's filter language: pure functions, unit-tested by
// tests/browser/unit/filters.test.mjs.

/** The endpoint class each group of the map holds. */
const GROUP_CLASSES = { external: "external", nodes: "node", services: "service", unknown: "unknown" };

/** The filter that selects one end (`src`, `dst`, or either when `end` is empty) of a map leaf or
 * compound; null for a group no filter names (the hosts map's unnamed addresses). */
export function leafFilter(id, end) {
  const at = end ? `${end}.` : "";
  const quote = (text) => JSON.stringify(text);
  const parts = id.split("|");
  switch (parts[0]) {
    case "w": return `${at}namespace = ${quote(parts[1])} and ${at}workload = ${quote(parts[3])}`;
    case "p": return `${at}pod = ${quote(parts[3])}`;
    case "s": return `${at}namespace = ${quote(parts[1])} and ${at}workload = ${quote(parts[2])}`;
    case "n": return `${at}node = ${quote(parts[1])}`;
    case "e": return `${at}name = ${quote(parts[1])} or ${at}ip = ${quote(parts[1])}`;
    // Compounds, when a collapsed one ends an edge.
    case "ns": return `${at}namespace = ${quote(parts[1])}`;
    case "node": return `${at}node = ${quote(parts[1])}`;
    case "pn": return `${at}node = ${quote(parts[1])} and ${at}namespace = ${quote(parts[2])}`;
    case "d": return `${at}name ~ ${quote(parts[1])}`;
    case "g": return GROUP_CLASSES[parts[1]] ? `${at}class = ${GROUP_CLASSES[parts[1]]}` : null;
    default: return `${at}ip = ${parts[parts.length - 1]}`;
  }
}

/** The filter of one map edge: its client end as the source, its server end as the destination;
 * null when an end is a group no filter names. */
export function edgeFilter(source, target) {
  const [from, to] = [leafFilter(source, "src"), leafFilter(target, "dst")];
  return from === null || to === null ? null : `(${from}) and (${to})`;
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
