// The URL state (server/ui/state.js): read back what it writes, defaults, the cluster choice.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ALL_CLUSTERS, chosenCluster, parseState, toSearch } from "../../../server/ui/state.js";

test("an empty URL is the last hour of the logical map in every cluster", () => {
  const state = parseState("", 10_000);
  assert.deepEqual(state, { cluster: "", view: "logical", from: 6400, to: 10_000, filter: "", dataset: "",
    sort: "", order: "desc" });
  assert.equal(chosenCluster(state), null);
});

test("a state survives the URL round trip, filters with spaces and quotes included", () => {
  const state = { ...parseState("", 10_000), cluster: "east", view: "physical", filter: `src.namespace = "shop" and port in (80, 443)`,
    dataset: "http", sort: "status", order: "asc" };
  assert.deepEqual(parseState(toSearch(state), 99), state);
  assert.equal(toSearch(parseState("", 10_000)), "?view=logical&from=6400&to=10000&order=desc",
    "empty values are left out");
});

test("the cluster choice: one name, or every cluster as *", () => {
  assert.equal(chosenCluster(parseState("?cluster=east", 1)), "east");
  assert.equal(chosenCluster(parseState(`?cluster=${ALL_CLUSTERS}`, 1)), null);
  assert.equal(parseState("?to=500", 1).from, 500 - 3600, "from defaults to an hour before to");
  assert.equal(parseState("?to=garbage", 7).to, 7, "a bad number is the default");
});
