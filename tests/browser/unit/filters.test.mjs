// Filters from map clicks (server/ui/filters.js), in the API's filter language.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allOf, edgeFilter, toggleClauses, withClause } from "../../../server/ui/filters.js";

// What /api/map gives each node (query/src/leaf.rs makes them and tests every kind of id).
const web = { any: `namespace = "a" and workload = "x"`, src: `src.namespace = "a" and src.workload = "x"`,
  dst: `dst.namespace = "a" and dst.workload = "x"` };
const node = { any: `node = "node-1"`, src: `src.node = "node-1"`, dst: `dst.node = "node-1"` };

test("an edge filters on both of its ends, and clauses are added whole", () => {
  assert.equal(edgeFilter(web, node), `(src.namespace = "a" and src.workload = "x") and (dst.node = "node-1")`);
  assert.equal(withClause("", "port = 80"), "port = 80");
  assert.equal(withClause("a or b", "port = 80"), "(a or b) and (port = 80)");
});

test("an end no filter names gives no filter rather than a wrong one", () => {
  assert.equal(edgeFilter(null, node), null);
  assert.equal(edgeFilter(web, undefined), null);
});

test("the toggles become clauses, and empty filters drop out", () => {
  assert.equal(toggleClauses(["external", "node"], true), "not class = external and not class = node");
  assert.equal(toggleClauses([], false), "scope != internal");
  assert.equal(allOf(["a", "", "b or c"]), "(a) and (b or c)");
});
