// Filters from map clicks (server/ui/filters.js), in the API's filter language.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allOf, edgeFilter, leafFilter, toggleClauses, withClause } from "../../../server/ui/filters.js";

test("each kind of leaf selects its own end", () => {
  assert.equal(leafFilter("w|shop|Deployment|web", "src"), `src.namespace = "shop" and src.workload = "web"`);
  assert.equal(leafFilter("p|node-1|shop|web-7d9f", "dst"), `dst.pod = "web-7d9f"`);
  assert.equal(leafFilter("s|kube-system|kube-dns", ""), `namespace = "kube-system" and workload = "kube-dns"`);
  assert.equal(leafFilter("n|node-2", "src"), `src.node = "node-2"`);
  assert.equal(leafFilter("e|api.example.com", "dst"), `dst.name = "api.example.com" or dst.ip = "api.example.com"`);
  assert.equal(leafFilter("u|10.0.0.9", "dst"), "dst.ip = 10.0.0.9");
  assert.equal(leafFilter("h|shop|web.shop|10.0.0.7", "src"), "src.ip = 10.0.0.7");
});

test("a name with quotes stays one value", () => {
  assert.equal(leafFilter(`w|ns|Pod|we"ird`, "src"), `src.namespace = "ns" and src.workload = "we\\"ird"`);
});

test("an edge filters on both of its ends, and clauses are added whole", () => {
  assert.equal(edgeFilter("w|a|Deployment|x", "n|node-1"),
    `(src.namespace = "a" and src.workload = "x") and (dst.node = "node-1")`);
  assert.equal(withClause("", "port = 80"), "port = 80");
  assert.equal(withClause("a or b", "port = 80"), "(a or b) and (port = 80)");
});

test("the toggles become clauses, and empty filters drop out", () => {
  assert.equal(toggleClauses(["external", "node"], true), "not class = external and not class = node");
  assert.equal(toggleClauses([], false), "scope != internal");
  assert.equal(allOf(["a", "", "b or c"]), "(a) and (b or c)");
});

test("a collapsed compound at an end filters on what it holds", () => {
  assert.equal(leafFilter("ns|shop", "src"), `src.namespace = "shop"`);
  assert.equal(leafFilter("node|node-1", "dst"), `dst.node = "node-1"`);
  assert.equal(leafFilter("pn|node-1|shop", "src"), `src.node = "node-1" and src.namespace = "shop"`);
  assert.equal(leafFilter("g|external", "dst"), "dst.class = external");
  assert.equal(leafFilter("d|example.com", "dst"), `dst.name ~ "example.com"`);
  assert.equal(leafFilter("g|addresses", "src"), null);
  assert.equal(edgeFilter("g|addresses", "ns|shop"), null, "no filter rather than a wrong one");
});
