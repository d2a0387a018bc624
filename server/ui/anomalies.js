// What the anomalies panel says of each flag of GET /api/anomalies, and which map elements it
// marks: pure functions, unit-tested by tests/browser/unit/anomalies.test.mjs.

import { bytes, clock } from "./format.js";

/** The flag kinds, as the panel titles them. */
export const ANOMALY_TITLES = {
  new_edge: "New edge",
  excessive_dns: "Excessive DNS",
  excessive_external: "Excessive external traffic",
  denied_by_policy: "Denied by policy",
};

/** One line about a flag, its ends by the map's labels. */
export function describeAnomaly(anomaly) {
  const at = clock(anomaly.at / 1e6, true);
  const who = anomaly.source_label;
  switch (anomaly.kind) {
    case "new_edge":
      return `${who} → ${anomaly.target_label} on ${anomaly.port}/${anomaly.transport}, first at ${at} UTC `
        + `(${bytes(anomaly.value)} in range)`;
    case "denied_by_policy":
      return `${who} → ${anomaly.target_label} on ${anomaly.port}/${anomaly.transport}, which ${anomaly.policies ?? "a NetworkPolicy"} `
        + `should stop: ${bytes(anomaly.value)} since ${at} UTC`;
    case "excessive_dns":
      return `${who}: ${Math.round(anomaly.value).toLocaleString("en")} DNS queries in the minute of ${at} UTC `
        + `(usually ${Math.round(anomaly.baseline).toLocaleString("en")})`;
    default:
      return `${who}: ${bytes(anomaly.value)} with external peers in the minute of ${at} UTC `
        + `(usually ${bytes(Math.round(anomaly.baseline))})`;
  }
}

/** The map ids a list of flags marks: every flagged client, an edge's server and the edge. */
export function markedIds(anomalies) {
  const ids = new Set();
  for (const anomaly of anomalies) {
    ids.add(anomaly.source);
    if (anomaly.target) {
      ids.add(anomaly.target);
      ids.add(`${anomaly.source}→${anomaly.target}`);
    }
  }
  return ids;
}
