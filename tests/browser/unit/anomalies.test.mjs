// The anomalies panel's words and marks (server/ui/anomalies.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeAnomaly, markedIds } from "../../../server/ui/anomalies.js";

const at = Date.UTC(2026, 10, 21, 5, 30) * 1000;

test("each kind of flag is said in its own words, with its numbers", () => {
  assert.equal(describeAnomaly({ kind: "new_edge", source: "w|shop|Deployment|web", source_label: "web",
    target: "w|payments|Deployment|ledger", target_label: "ledger", port: 8443, transport: "tcp", at, value: 4000, baseline: 0 }),
  "web → ledger on 8443/tcp, first at 11-21 05:30 UTC (4.0 kB in range)");
  assert.equal(describeAnomaly({ kind: "excessive_dns", source: "w|batch|CronJob|report", source_label: "report", at,
    value: 5000, baseline: 10 }),
    "report: 5,000 DNS queries in the minute of 11-21 05:30 UTC (usually 10)");
  assert.equal(describeAnomaly({ kind: "excessive_external", source: "w|shop|Deployment|web", source_label: "web", at,
    value: 3e8, baseline: 1.5e6 }),
    "web: 300.0 MB with external peers in the minute of 11-21 05:30 UTC (usually 1.5 MB)");
  assert.equal(describeAnomaly({ kind: "denied_by_policy", source: "w|batch|CronJob|report", source_label: "report",
    target: "w|shop|Deployment|api", target_label: "api", port: 8080, transport: "tcp", at, value: 12000, baseline: 0,
    policies: "shop/api-from-web" }),
  "report → api on 8080/tcp, which shop/api-from-web should stop: 12.0 kB since 11-21 05:30 UTC");
});

test("a new edge marks both ends and the edge; an excess marks its client", () => {
  const marked = markedIds([
    { kind: "new_edge", source: "a", target: "b" },
    { kind: "excessive_dns", source: "c", target: null },
  ]);
  assert.deepEqual([...marked].sort(), ["a", "a→b", "b", "c"]);
});
