// The screen's state as the URL holds it, so a link reproduces the screen: pure functions,
// unit-tested by tests/browser/unit/state.test.mjs.

/** The URL's `cluster` when every cluster is read: no cluster name has a `*`. */
export const ALL_CLUSTERS = "*";

/** The state a query string (`location.search`) describes, at `now` (Unix seconds). */
export function parseState(search, now) {
  const params = new URLSearchParams(search);
  const to = Number(params.get("to")) || now;
  return {
    cluster: params.get("cluster") || "",
    view: params.get("view") || "logical",
    from: Number(params.get("from")) || to - 3600,
    to,
    filter: params.get("filter") || "",
    dataset: params.get("dataset") || "",
    sort: params.get("sort") || "",
    order: params.get("order") || "desc",
  };
}

/** The query string of `state`, empty values left out. */
export function toSearch(state) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) if (value !== "") params.set(key, value);
  return `?${params}`;
}

/** The one cluster `state` reads, or null for every cluster. */
export const chosenCluster = (state) => (state.cluster && state.cluster !== ALL_CLUSTERS ? state.cluster : null);
