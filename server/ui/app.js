// Spider's UI: the map (Cytoscape.js + fCoSE), the timeline, the grid and the details panel, all
// driven by one state that the URL holds, so a link reproduces the screen. The pure parts —
// formatting, the URL state, filters from map clicks — are modules of their own, unit-tested.
import { ago, bytes, cellText, clock, duration, escapeHtml, ordered, rate } from "./format.js";
import { ALL_CLUSTERS, chosenCluster, parseState, toSearch } from "./state.js";
import { allOf, edgeFilter, toggleClauses, withClause } from "./filters.js";
import { ANOMALY_TITLES, describeAnomaly, markedIds } from "./anomalies.js";

cytoscape.use(cytoscapeFcose);

const $ = (id) => document.getElementById(id);
const DATASET = { logical: "network_usage", physical: "network_usage", hosts: "tcp_sessions" };
/** The lake's cluster when it has one alone: what a capture asked from this screen is of. */
let soleCluster = null;

/** The state of the screen, read from and written to the URL. */
const state = parseState(location.search, Math.floor(Date.now() / 1000));

function remember() {
  history.replaceState(null, "", toSearch(state));
}

let pending = 0;
function busy(delta, error) {
  pending += delta;
  const status = $("status");
  status.className = error ? "error" : pending > 0 ? "loading" : "";
  status.textContent = error || (pending > 0 ? "loading…" : "");
}

/** The filter the toggles add: hidden endpoint classes on either end, namespace-internal edges. */
function toggleFilter() {
  const hidden = [...document.querySelectorAll("#toggles input[data-class]")]
    .filter((box) => !box.checked).map((box) => box.dataset.class);
  return toggleClauses(hidden, document.querySelector("#toggles input[data-scope]").checked);
}

function effectiveFilter(dataset, extra) {
  const toggles = dataset === "hosts" ? "" : toggleFilter();
  return allOf([state.filter, toggles, extra]);
}

async function api(path, params, dataset, extraFilter) {
  const query = new URLSearchParams({ from: state.from, to: state.to, ...params });
  if (chosenCluster(state)) query.set("cluster", chosenCluster(state));
  const filter = effectiveFilter(dataset, extraFilter);
  if (filter) query.set("filter", filter);
  busy(+1);
  try {
    const response = await fetch(`${path}?${query}`, { headers: authorization() });
    if (response.status === 401) {
      busy(-1);
      return askForToken();
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    busy(-1);
    return body;
  } catch (error) {
    busy(-1, String(error.message || error));
    throw error;
  }
}

function authorization() {
  const token = localStorage.getItem("spider.token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Shows the token form: the service answered 401 (no token yet, or a wrong one). The answer
 * never settles: nothing can be drawn until a token is entered, which reloads the page.
 */
function askForToken() {
  $("status").className = "error";
  $("status").textContent = "this service needs a token";
  $("token-form").hidden = false;
  return new Promise(() => {});
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem("spider.token", $("token").value.trim());
  location.reload();
});

// ---- map ------------------------------------------------------------------------------------

/**
 * How each kind of map node is drawn: a shape and a colour per workload kind, Service, node or
 * host, external and unknown end (the leaves), and a tint per compound (namespace, node, group,
 * domain). The legend shows the kinds present on the map from the same table.
 */
const KINDS = {
  Deployment: { shape: "round-rectangle", color: "#3b82f6", label: "Deployment" },
  StatefulSet: { shape: "barrel", color: "#0d9488", label: "StatefulSet" },
  DaemonSet: { shape: "hexagon", color: "#8b5cf6", label: "DaemonSet" },
  CronJob: { shape: "diamond", color: "#d97706", label: "CronJob" },
  Job: { shape: "diamond", color: "#fbbf24", label: "Job" },
  ReplicaSet: { shape: "round-rectangle", color: "#60a5fa", label: "ReplicaSet" },
  Pod: { shape: "ellipse", color: "#64748b", label: "Pod" },
  Service: { shape: "round-triangle", color: "#16a34a", label: "Service" },
  Node: { shape: "rectangle", color: "#475569", label: "Node" },
  Host: { shape: "rectangle", color: "#94a3b8", label: "Host" },
  External: { shape: "star", color: "#ea580c", label: "External" },
  Unknown: { shape: "ellipse", color: "#cbd5e1", label: "Unknown" },
};
const COMPOUNDS = {
  Namespace: { color: "#dbeafe", border: "#93c5fd" },
  Node: { color: "#e2e8f0", border: "#64748b" },
  Group: { color: "#f1f5f9", border: "#cbd5e1" },
  Domain: { color: "#ffedd5", border: "#fdba74" },
};

/** How much labels are enlarged against the zoom (see legibleLabels). */
let labelGrowth = 1;

const cy = cytoscape({
  container: $("map"),
  wheelSensitivity: 0.3,
  style: [
    { selector: "node", style: { label: "data(label)", "font-size": () => 11 * labelGrowth, "text-valign": "bottom",
      "text-margin-y": 3, "text-outline-color": "#fff", "text-outline-width": 2, color: "#1d2733",
      "background-color": "#7da7d9", width: "data(size)", height: "data(size)" } },
    ...Object.entries(KINDS).map(([kind, look]) => ({ selector: `node[kind = "${kind}"]:childless`,
      style: { shape: look.shape, "background-color": look.color } })),
    { selector: 'node[kind = "Unknown"]:childless', style: { "border-width": 1.5, "border-style": "dashed",
      "border-color": "#64748b" } },
    // A compound's name keeps a white ground: edges leaving it cross where it is written.
    { selector: ":parent", style: { "background-opacity": 0.45, "border-width": 1, "text-valign": "top",
      "font-weight": "bold", "font-size": () => 12 * labelGrowth, shape: "round-rectangle", "text-background-color": "#fff",
      "text-background-opacity": 0.9, "text-background-padding": 2, "text-background-shape": "round-rectangle",
      "text-outline-width": 0 } },
    ...Object.entries(COMPOUNDS).map(([kind, look]) => ({ selector: `node[kind = "${kind}"]:parent`,
      style: { "background-color": look.color, "border-color": look.border } })),
    { selector: 'node[kind = "Node"]:parent', style: { "border-style": "dashed", "border-width": 1.5 } },
    { selector: "edge", style: { width: "data(width)", "curve-style": "bezier", "line-color": "#b8c4d3",
      "target-arrow-shape": "triangle", "target-arrow-color": "#b8c4d3", "arrow-scale": 0.8 } },
    { selector: "edge[?udp]", style: { "line-style": "dashed" } },
    { selector: ":selected", style: { "line-color": "#f59e0b", "target-arrow-color": "#f59e0b",
      "border-color": "#f59e0b", "border-width": 3 } },
    { selector: ".faded", style: { opacity: 0.15 } },
    { selector: ".inside-collapsed", style: { display: "none" } },
    // A collapsed compound holds nothing drawn: it keeps a size of its own to be seen and tapped.
    { selector: "node.collapsed", style: { "border-width": 2, "border-style": "double", "background-opacity": 0.8,
      "min-width": 70, "min-height": 46, width: 70, height: 46, "text-valign": "center" } },
    { selector: "edge.meta", style: { "line-style": "solid", "line-color": "#94a3b8", "target-arrow-color": "#94a3b8" } },
    { selector: "node.anomalous", style: { "border-color": "#dc2626", "border-width": 4, "border-style": "solid" } },
    { selector: "edge.anomalous", style: { "line-color": "#dc2626", "target-arrow-color": "#dc2626" } },
    { selector: ".calm", style: { display: "none" } },
  ],
});
// The browser tests read the map as drawn.
window.cy = cy;

const scale = (value, max, low, high) => low + (high - low) * Math.log1p(value) / Math.log1p(max || 1);

function elements(answer) {
  const maxLeaf = Math.max(1, ...answer.nodes.map((n) => n.bytes));
  const maxEdge = Math.max(1, ...answer.edges.map((e) => e.bytes));
  const nodes = answer.nodes.map((n) => ({
    group: "nodes",
    data: { id: n.id, label: n.label, parent: n.parent || undefined, kind: n.kind, bytes: n.bytes,
      messages: n.messages, select: n.select, size: scale(n.bytes, maxLeaf, 16, 52) },
  }));
  const edges = answer.edges.map((e) => ({
    group: "edges",
    data: { id: `${e.source}→${e.target}`, source: e.source, target: e.target, bytes: e.bytes,
      bytesToServer: e.bytes_to_server, bytesToClient: e.bytes_to_client, messages: e.messages,
      sessions: e.sessions, ports: e.ports.join(","), transport: e.transports.join(","),
      udp: e.transports.includes("udp"), select: e.select,
      width: scale(e.bytes, maxEdge, 1, 9) },
  }));
  return nodes.concat(edges);
}

/** fCoSE's refinement costs seconds on big maps (tests/browser/layout_bench.mjs: 2,000 leaves take
 * ~4.5 s at "default", ~1.7 s at "draft"), so big maps get the draft quality. */
function layout() {
  // A collapsed compound is laid out as one node: what it holds is taken out meanwhile, then put
  // back where it went (fCoSE cannot lay out a compound whose children it is not given).
  const held = cy.nodes(".inside-collapsed");
  const out = held.union(held.connectedEdges()).remove();
  const quality = cy.nodes().length > 500 ? "draft" : "default";
  cy.layout({ name: "fcose", animate: false, randomize: true, quality,
    nodeDimensionsIncludeLabels: true }).run();
  // What each collapsed compound hides goes along to where it was put.
  out.restore();
  cy.nodes(".collapsed").forEach((node) => {
    const inside = node.descendants(":childless");
    const mean = (axis) => inside.reduce((sum, n) => sum + n.position(axis), 0) / Math.max(1, inside.length);
    inside.shift({ x: node.position("x") - mean("x"), y: node.position("y") - mean("y") });
  });
  cy.fit(cy.elements(":visible"), 30);
  legibleLabels();
}

/** Labels keep at least their on-screen size when the map is zoomed out to fit (a tall layout
 * in a wide panel): their size in the map grows as the zoom shrinks, up to 2.5 times. Styles are
 * recomputed only when that growth changes by a tenth. */
function legibleLabels() {
  const grow = Math.round(10 * Math.min(2.5, 1 / Math.min(1, cy.zoom()))) / 10;
  if (grow !== labelGrowth) {
    labelGrowth = grow;
    cy.style().update();
  }
}

async function loadMap() {
  const first = await api("/api/map", { view: state.view, limit: 300 });
  // The hovered element goes with the old map, and no mouseout comes for it.
  $("tip").hidden = true;
  cy.elements().remove();
  cy.add(elements(first));
  openCollapsedIfBig();
  redrawCollapsed();
  layout();
  drawLegend();
  $("map-empty").hidden = first.edges.length > 0;
  $("map").dataset.edges = String(first.edges.length);
  // Fill in: the next page of smaller edges, drawn once the first answer is on screen.
  if (first.rest.edges > 0) {
    const next = await api("/api/map", { view: state.view, limit: 1000, offset: 300 });
    cy.add(elements(next).filter((el) => cy.getElementById(el.data.id).empty()));
    openCollapsedIfBig();
    redrawCollapsed();
    layout();
    drawLegend();
    $("map").dataset.edges = String(first.edges.length + next.edges.length);
  }
}

function addFilter(clause) {
  state.filter = withClause(state.filter, clause);
  $("filter").value = state.filter;
  refresh();
}

cy.on("tap", "edge", (event) => {
  const edge = event.target;
  // A collapsed compound's edge has no clause of its own: its ends' clauses make one.
  const filter = edge.data("select") || edgeFilter(edge.source().data("select"), edge.target().data("select"));
  if (filter) addFilter(filter);
});

cy.on("tap", "node", (event) => {
  const node = event.target;
  if (node.isParent()) return;
  showDetails(node.id());
});

// ---- collapse and expand -----------------------------------------------------------------------

/** Compounds drawn collapsed: their contents hidden, their traffic on edges of their own. */
const collapsed = new Set();

/** The element an end is drawn as: its outermost collapsed compound, else itself. */
function drawnAs(node) {
  const closed = node.ancestors().filter((a) => collapsed.has(a.id()));
  return closed.nonempty() ? closed.last() : node;
}

/** Hides what collapsed compounds hold and draws their traffic on edges between what is drawn,
 * summed per pair of drawn ends. */
function redrawCollapsed() {
  cy.batch(() => {
    cy.edges(".meta").remove();
    cy.nodes().forEach((n) => n.toggleClass("inside-collapsed",
      n.ancestors().some((a) => collapsed.has(a.id()))));
    cy.nodes(":parent").forEach((n) => n.toggleClass("collapsed", collapsed.has(n.id())));
    const sums = new Map();
    cy.edges().forEach((edge) => {
      const [from, to] = [drawnAs(edge.source()), drawnAs(edge.target())];
      if (from.id() === edge.source().id() && to.id() === edge.target().id()) return;
      if (from.id() === to.id()) return;
      const key = `${from.id()}→${to.id()}`;
      const sum = sums.get(key) || { id: `meta:${key}`, source: from.id(), target: to.id(), bytes: 0,
        bytesToServer: 0, bytesToClient: 0, messages: 0, udp: false, ports: new Set(), transports: new Set() };
      const d = edge.data();
      sum.bytes += d.bytes;
      sum.bytesToServer += d.bytesToServer;
      sum.bytesToClient += d.bytesToClient;
      sum.messages += d.messages;
      sum.udp ||= d.udp;
      d.ports.split(",").filter(Boolean).forEach((p) => sum.ports.add(p));
      d.transport.split(",").filter(Boolean).forEach((t) => sum.transports.add(t));
      sums.set(key, sum);
    });
    const largest = Math.max(1, ...[...sums.values()].map((s) => s.bytes), ...cy.edges().map((e) => e.data("bytes")));
    cy.add([...sums.values()].map((s) => ({ group: "edges", classes: "meta", data: { ...s,
      ports: [...s.ports].join(","), transport: [...s.transports].join(","), width: scale(s.bytes, largest, 1, 9) } })));
  });
}

/** Compounds the user collapsed or expanded: a big map's opening leaves them as they are. */
const toggledByUser = new Set();

/** Above this many leaves, a physical map opens with its nodes collapsed, to drill down from. */
const OPEN_COLLAPSED_ABOVE = 150;

function openCollapsedIfBig() {
  if (state.view !== "physical" || cy.nodes(":childless").length <= OPEN_COLLAPSED_ABOVE) return;
  cy.nodes(':parent[kind = "Node"]').forEach((node) => {
    if (!toggledByUser.has(node.id())) collapsed.add(node.id());
  });
}

/** Collapses an expanded compound, or expands a collapsed one. */
function toggleCollapsed(compound) {
  toggledByUser.add(compound.id());
  const expanding = collapsed.delete(compound.id());
  if (!expanding) collapsed.add(compound.id());
  redrawCollapsed();
  if (expanding) placeInside(compound);
}

/** Where a drawn element is, and how far it reaches. A collapsed compound is where it was put
 * (its hidden contents do not move it), as big as its style. */
function extent(node) {
  if (collapsed.has(node.id())) return { ...node.position(), reach: Math.hypot(70, 46) / 2 };
  const box = node.boundingBox();
  return { x: (box.x1 + box.x2) / 2, y: (box.y1 + box.y2) / 2, reach: Math.hypot(box.w, box.h) / 2 };
}

/** Moves a drawn element by `by`: a collapsed compound with what it hides, so that it is laid
 * out from there once expanded. */
function move(node, by) {
  if (!node.isParent()) return node.shift(by);
  node.descendants(":childless").shift(by);
  if (collapsed.has(node.id())) node.position({ x: node.position("x") + by.x, y: node.position("y") + by.y });
}

/** Moves whatever else is drawn out of an expanded compound's box, away from its centre. */
function makeRoomFor(compound) {
  const centre = extent(compound);
  cy.nodes(":visible").orphans().not(compound).forEach((other) => {
    const at = extent(other);
    const distance = Math.hypot(at.x - centre.x, at.y - centre.y);
    const reach = centre.reach + at.reach + 40;
    if (distance >= reach) return;
    const [ux, uy] = distance > 1 ? [(at.x - centre.x) / distance, (at.y - centre.y) / distance] : [1, 0];
    const by = { x: ux * (reach - distance), y: uy * (reach - distance) };
    move(other, by);
  });
}

/** Lays out what an expanded compound holds where it was drawn collapsed: a map that opened
 * collapsed never placed it. */
function placeInside(compound) {
  const inside = compound.descendants();
  const at = compound.position();
  const own = compound.union(inside).union(inside.edgesWith(inside));
  own.layout({ name: "fcose", animate: false, randomize: true, fit: false,
    nodeDimensionsIncludeLabels: true }).run();
  const box = compound.boundingBox();
  const [dx, dy] = [at.x - (box.x1 + box.x2) / 2, at.y - (box.y1 + box.y2) / 2];
  inside.filter((n) => n.isChildless()).shift({ x: dx, y: dy });
  makeRoomFor(compound);
  cy.fit(cy.elements(":visible"), 30);
}

// A double tap on a namespace, node or group collapses or expands it.
cy.on("dbltap", "node", (event) => {
  const node = event.target;
  if (node.isParent() || collapsed.has(node.id())) toggleCollapsed(node);
});

// Selecting leaves fades all but their neighbourhood (their peers, the edges and compounds).
function fadeAllButSelected() {
  const selected = cy.nodes(":selected:childless");
  cy.elements().removeClass("faded");
  if (selected.empty()) return;
  const near = selected.closedNeighborhood();
  cy.elements().not(near.union(near.ancestors())).addClass("faded");
}
cy.on("select unselect", "node", fadeAllButSelected);

// ---- legend and tooltips ----------------------------------------------------------------------

/** The legend: every leaf kind on the map, drawn as the map draws it. */
function drawLegend() {
  const present = new Set(cy.nodes(":childless").map((n) => n.data("kind")));
  const kinds = Object.keys(KINDS).filter((kind) => present.has(kind));
  const udp = cy.edges("[?udp]").nonempty();
  $("legend").innerHTML = kinds.map((kind) => `<li data-kind="${kind}"><span class="swatch ${KINDS[kind].shape}"
    style="background:${KINDS[kind].color}"></span>${KINDS[kind].label}</li>`).join("")
    + (udp ? `<li data-kind="udp"><span class="line dashed"></span>UDP</li>` : "")
    + (kinds.length ? `<li><span class="line"></span>width: bytes</li>` : "");
  $("legend").hidden = kinds.length === 0;
}

/** What a map's messages are: packets in the hosts view (captured sessions), else messages. */
const counted = () => (state.view === "hosts" ? "packets" : "messages");

/** Bytes per second over the screen's range. */
const perSecond = (n) => rate(n, state.to - state.from);

/** What the tooltip says of a map element: the API's numbers, in units people read. */
function tipOf(element) {
  const d = element.data();
  if (element.isEdge()) {
    const name = (id) => cy.getElementById(id).data("label") || id;
    const transports = d.transport ? ` · ${escapeHtml(d.transport)}` : "";
    const ports = d.ports ? `port ${escapeHtml(d.ports)}` : "";
    const sessions = d.sessions === undefined ? "" : `<br>${d.sessions} sessions`;
    return `<b>${escapeHtml(name(d.source))} → ${escapeHtml(name(d.target))}</b><br>
      → ${bytes(d.bytesToServer)} (${perSecond(d.bytesToServer)})<br>
      ← ${bytes(d.bytesToClient)} (${perSecond(d.bytesToClient)})<br>
      ${d.messages.toLocaleString()} ${counted()}${sessions}<br>${ports}${transports}`;
  }
  const kind = element.isParent() ? (d.kind === "Node" ? "node" : d.kind.toLowerCase()) : d.kind;
  return `<b>${escapeHtml(d.label)}</b> <small>${escapeHtml(kind)}</small><br>
    ${bytes(d.bytes)} (${perSecond(d.bytes)}), ${(d.messages || 0).toLocaleString()} ${counted()}`;
}

cy.on("mouseover", "node, edge", (event) => {
  const tip = $("tip");
  const d = event.target.data();
  tip.innerHTML = tipOf(event.target);
  tip.dataset.element = d.id;
  tip.dataset.bytes = String(d.bytes);
  if (event.target.isEdge()) {
    tip.dataset.bytesToServer = String(d.bytesToServer);
    tip.dataset.bytesToClient = String(d.bytesToClient);
  }
  const at = event.renderedPosition || { x: 0, y: 0 };
  tip.style.left = `${at.x + 14}px`;
  tip.style.top = `${at.y + 14}px`;
  tip.hidden = false;
});
cy.on("mouseout", "node, edge", () => { $("tip").hidden = true; });
cy.on("zoom", legibleLabels);

// ---- details --------------------------------------------------------------------------------

/** Adds the clause that selects map node `id` at either end, as the map answer gave it. */
function filterOn(id) {
  const select = cy.getElementById(id).data("select");
  if (select) addFilter(select.any);
}

async function showDetails(id) {
  const panel = $("details");
  if (state.view !== "logical") {
    panel.innerHTML = "";
    filterOn(id);
    return;
  }
  const details = await api("/api/details", { id, top: 20 });
  const rows = (peers) => peers.map((p) => `<li>${escapeHtml(p.label)} <small>${escapeHtml(p.kind)}, ${bytes(p.bytes)}, ports ${p.ports.join(", ")}</small></li>`).join("");
  panel.innerHTML = `
    <h3>${escapeHtml(details.label)} <small>${escapeHtml(details.kind)}</small></h3>
    <p>${bytes(details.bytes)} · ${details.messages} messages</p>
    <button id="filter-leaf">Filter on it</button>
    <h4>Pods</h4><ul>${details.pods.map((p) => `<li>${escapeHtml(p.pod || "—")} <small>${escapeHtml(p.node || "")} ${bytes(p.bytes)}</small></li>`).join("")}</ul>
    <h4>Clients</h4><ul>${rows(details.clients)}</ul>
    <h4>Servers</h4><ul>${rows(details.servers)}</ul>
    <h4>Ports served</h4><ul>${details.ports_served.map((p) => `<li>${p.port}/${p.transport} <small>${bytes(p.bytes)}</small></li>`).join("")}</ul>
    <h4>Ports used</h4><ul>${details.ports_used.map((p) => `<li>${p.port}/${p.transport} <small>${bytes(p.bytes)}</small></li>`).join("")}</ul>
    <h4>Bytes over time</h4>${sparkline(details.timeline.bars)}
    ${details.workload ? attachForm() : ""}`;
  $("filter-leaf").onclick = () => filterOn(id);
  if (details.workload) {
    $("attach").onsubmit = (event) => { event.preventDefault(); attach(details.workload); };
  }
}

// ---- whisperer: captures of a workload's pods -----------------------------------------------

function attachForm() {
  return `<h4>Whisperer</h4>
    <form id="attach">
      <label>Duration <select name="duration">
        <option value="60">1 min</option><option value="300" selected>5 min</option>
        <option value="900">15 min</option><option value="3600">1 hour</option></select></label>
      <label>Filter <input name="filter" placeholder="tcp port 80" size="14"></label>
      <label>Max packets/s <input name="rate" type="number" min="1" value="1000" size="6"></label>
      <button type="submit" id="attach-whisperer">Attach Whisperer</button>
    </form>`;
}

/**
 * Asks the query service for a capture of the workload's pods; node agents carry it out, those
 * of the chosen cluster (or of the lake's only one) alone.
 */
async function attach(workload) {
  const form = $("attach");
  await send("POST", "/api/captures", {
    workload,
    duration_seconds: Number(form.elements.duration.value),
    filter: form.elements.filter.value.trim(),
    max_packets_per_second: Number(form.elements.rate.value),
    cluster: chosenCluster(state) ?? soleCluster,
  });
  await loadCaptures();
}

/** The active captures, each with what the node agents report and a stop button. */
async function loadCaptures() {
  const response = await fetch("/api/captures?state=active", { headers: authorization() });
  if (response.status === 401) return askForToken();
  if (!response.ok) return;
  const captures = await response.json();
  const list = $("captures");
  list.hidden = captures.length === 0;
  list.innerHTML = captures.map((capture) => {
    const agents = Object.values(capture.agents);
    const sum = (key) => agents.reduce((total, agent) => total + agent[key], 0);
    const pods = agents.flatMap((agent) => agent.pods);
    const errors = agents.map((agent) => agent.error).filter(Boolean);
    const w = capture.workload;
    const where = capture.cluster ? ` <small>in ${escapeHtml(capture.cluster)}</small>` : "";
    return `<li data-capture="${capture.id}"><b>${escapeHtml(`${w.namespace}/${w.kind}/${w.name}`)}</b>${where}
      <span class="capture-status" data-packets="${sum("packets")}" data-pods="${escapeHtml(pods.join(","))}">
        ${sum("packets")} packets, ${sum("dropped")} dropped, pods ${escapeHtml(pods.join(", ") || "none yet")}
        ${errors.length ? `<em>${escapeHtml(errors.join("; "))}</em>` : ""}</span>
      <button data-show="${capture.id}">Sessions</button> <button data-stop="${capture.id}">Stop</button></li>`;
  }).join("");
  list.querySelectorAll("button[data-stop]").forEach((button) => {
    button.onclick = async () => { await send("POST", `/api/captures/${button.dataset.stop}/stop`); loadCaptures(); };
  });
  list.querySelectorAll("button[data-show]").forEach((button) => {
    const w = captures.find((c) => String(c.id) === button.dataset.show).workload;
    button.onclick = () => {
      state.dataset = "tcp_sessions";
      state.filter = `namespace = ${w.namespace} and workload = ${w.name}`;
      refresh();
    };
  });
}

/** A small bar chart of bytes per step. */
function sparkline(bars) {
  const max = Math.max(1, ...bars.map((b) => b.bytes));
  const step = 260 / Math.max(1, bars.length);
  return `<svg class="sparkline" width="260" height="40">${bars.map((b, i) => {
    const h = 40 * b.bytes / max;
    return `<rect x="${i * step}" y="${40 - h}" width="${Math.max(1, step - 0.5)}" height="${h}" fill="#7da7d9"></rect>`;
  }).join("")}</svg>`;
}

// ---- timeline -------------------------------------------------------------------------------

async function loadTimeline() {
  if (state.view === "hosts") { $("timeline").innerHTML = ""; return; }
  const timeline = await api("/api/timeline", {});
  const bars = timeline.bars;
  const max = Math.max(1, ...bars.map((b) => b.bytes));
  const width = 1000, height = 60, step = width / Math.max(1, bars.length);
  const days = state.to - state.from > 86400;
  const svg = [`<svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none">`];
  bars.forEach((bar, i) => {
    const h = height * bar.bytes / max;
    const at = clock(bar.time / 1e6, true);
    svg.push(`<rect class="bar" x="${i * step}" y="${height - h}" width="${Math.max(1, step - 1)}" height="${h}" data-time="${bar.time}"><title>${at} UTC: ${bytes(bar.bytes)}, ${bar.messages.toLocaleString()} messages</title></rect>`);
  });
  svg.push(`<rect class="selection" x="0" y="0" width="0" height="${height}"></rect></svg>`);
  // About six ticks, at whole bars.
  const tickEvery = Math.max(1, Math.round(bars.length / 6));
  const ticks = bars.map((bar, i) => [bar, i]).filter(([, i]) => i % tickEvery === 0)
    .map(([bar, i]) => `<span style="left:${(100 * i) / Math.max(1, bars.length)}%">${clock(bar.time / 1e6, days)}</span>`);
  const range = `${clock(state.from, true)} – ${clock(state.to, days)} UTC`;
  $("timeline").innerHTML = `${svg.join("")}<div class="axis">${ticks.join("")}</div><output class="range">${range}</output>`;
  selectable($("timeline").querySelector("svg"), bars, timeline.step_seconds);
}

/** Dragging over the timeline selects a range: the map, grid and details follow. */
function selectable(svg, bars, stepSeconds) {
  const selection = svg.querySelector(".selection");
  const x = (event) => {
    const box = svg.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * 1000;
  };
  let start = null;
  svg.addEventListener("mousedown", (event) => { start = x(event); });
  svg.addEventListener("mousemove", (event) => {
    if (start === null) return;
    const end = x(event);
    selection.setAttribute("x", Math.min(start, end));
    selection.setAttribute("width", Math.abs(end - start));
  });
  // On the window: a drag may end outside the timeline.
  window.addEventListener("mouseup", (event) => {
    if (start === null) return;
    const [a, b] = [start, x(event)].sort((p, q) => p - q);
    start = null;
    if (b - a < 3 || bars.length === 0) return;
    const index = (pos) => Math.min(bars.length - 1, Math.floor(pos / (1000 / bars.length)));
    state.from = Math.floor(bars[index(a)].time / 1e6);
    state.to = Math.floor(bars[index(b)].time / 1e6) + stepSeconds;
    refresh();
  });
}

// ---- grid -----------------------------------------------------------------------------------

async function loadGrid(cursor) {
  const dataset = state.dataset || DATASET[state.view];
  $("dataset").value = dataset;
  const params = { limit: 100, order: state.order };
  if (state.sort) params.sort = state.sort;
  if (cursor) params.cursor = cursor;
  const page = await api(`/api/grid/${dataset}`, params, dataset);
  lastRows = cursor ? lastRows.concat(page.rows) : page.rows;
  const grid = $("grid");
  const all = page.rows.length ? ordered(Object.keys(page.rows[0])) : [];
  const hidden = hiddenColumns(dataset);
  const columns = all.filter((c) => !hidden.includes(c));
  if (!cursor) chooser(dataset, all, hidden);
  if (!cursor) {
    const downloadColumn = dataset === "tcp_sessions" ? "<th></th>" : "";
    grid.innerHTML = `<table><thead><tr>${downloadColumn}${columns.map((c) => `<th data-column="${c}">${c}${c === state.sort ? (state.order === "asc" ? " ▲" : " ▼") : ""}</th>`).join("")}</tr></thead><tbody></tbody></table>`;
    grid.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
      const column = th.dataset.column;
      state.order = state.sort === column && state.order === "desc" ? "asc" : "desc";
      state.sort = column;
      remember();
      loadGrid();
    }));
  }
  const body = grid.querySelector("tbody");
  for (const row of page.rows) {
    const tr = document.createElement("tr");
    tr.innerHTML = columns.map((c) => gridCell(c, row[c])).join("");
    if (dataset === "tcp_sessions") {
      // The session's own packets, as a pcap file Wireshark opens.
      tr.insertAdjacentHTML("afterbegin", `<td><a href="/api/sessions/${row.session_id}/pcap${inCluster()}" download>pcap</a></td>`);
    }
    body.appendChild(tr);
  }
  grid.dataset.rows = String(body.children.length);
  grid.onscroll = page.next ? () => {
    if (grid.scrollTop + grid.clientHeight >= grid.scrollHeight - 20) { grid.onscroll = null; loadGrid(page.next); }
  } : null;
}

/** A grid cell: sizes and durations in units people read, the raw value in its title. */
function gridCell(column, value) {
  if (value === null || value === undefined) return "<td></td>";
  const shown = cellText(column, value);
  const title = shown === String(value) ? "" : ` title="${escapeHtml(value)}"`;
  return `<td${title}>${escapeHtml(shown)}</td>`;
}

/** Columns hidden in a dataset's grid, remembered in this browser. */
function hiddenColumns(dataset) {
  return JSON.parse(localStorage.getItem(`spider.hidden.${dataset}`) || "[]");
}

function chooser(dataset, all, hidden) {
  $("column-list").innerHTML = all.map((c) => `<label><input type="checkbox" value="${c}" ${hidden.includes(c) ? "" : "checked"}> ${c}</label><br>`).join("");
  $("column-list").querySelectorAll("input").forEach((box) => box.addEventListener("change", () => {
    const now = [...$("column-list").querySelectorAll("input")].filter((b) => !b.checked).map((b) => b.value);
    localStorage.setItem(`spider.hidden.${dataset}`, JSON.stringify(now));
    loadGrid();
  }));
}

// ---- export and stats -----------------------------------------------------------------------

let lastRows = [];

function download(name, type, text) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  link.click();
}

// A session's pcap link is a plain navigation, which carries no token: behind tokens, it is
// fetched with the token and handed over as a file.
$("grid").addEventListener("click", async (event) => {
  const link = event.target.closest("a[download]");
  if (!link || !localStorage.getItem("spider.token")) return;
  event.preventDefault();
  const response = await fetch(link.getAttribute("href"), { headers: authorization() });
  if (response.status === 401) return askForToken();
  if (!response.ok) return busy(0, `pcap: ${response.statusText}`);
  download(link.getAttribute("href").split("/")[3] + ".pcap", "application/vnd.tcpdump.pcap", await response.blob());
});

$("export-json").addEventListener("click", () =>
  download("spider-rows.json", "application/json", JSON.stringify(lastRows, null, 1)));
$("export-csv").addEventListener("click", () => {
  const columns = lastRows.length ? Object.keys(lastRows[0]) : [];
  const cell = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const lines = [columns.join(",")].concat(lastRows.map((row) => columns.map((c) => cell(row[c])).join(",")));
  download("spider-rows.csv", "text/csv", lines.join("\n") + "\n");
});

/** Stats: the top groups of the grid's dataset by bytes (records where it has no bytes). */
async function loadStats() {
  const groupBy = $("group-by").value;
  const panel = $("details");
  if (!groupBy) return;
  const dataset = state.dataset || DATASET[state.view];
  const measure = dataset === "http" || dataset === "hosts" ? "records" : "bytes";
  const stats = await api("/api/stats", { dataset, group_by: groupBy, measure, top: 20 }, dataset);
  panel.innerHTML = `<h3>Top ${escapeHtml(groupBy)} by ${measure}</h3><table id="stats">${stats.groups
    .map((g) => `<tr><td>${escapeHtml(g.key ?? "—")}</td><td>${measure === "bytes" ? bytes(g.value) : g.value}</td></tr>`)
    .join("")}</table><p>total ${measure === "bytes" ? bytes(stats.total) : stats.total}</p>`;
}
$("group-by").addEventListener("change", loadStats);

// ---- dashboard ------------------------------------------------------------------------------

/** The cards of the dashboard: one stats query each, under the current range, filter and toggles. */
const CARDS = [
  { id: "totals", title: "Totals by transport", group_by: "transport", measure: "bytes" },
  { id: "talkers", title: "Top talkers", group_by: "src.workload", measure: "bytes" },
  { id: "dns", title: "Top DNS users", group_by: "src.workload", measure: "messages", filter: "port = 53" },
  { id: "cross", title: "Inter-namespace traffic", group_by: "src.namespace", measure: "bytes", filter: "scope = cross" },
  { id: "status", title: "HTTP status classes", dataset: "http", group_by: "status_class", measure: "records" },
  { id: "latency", title: "HTTP latency p90 by host", dataset: "http", group_by: "host", measure: "latency_p90" },
];

/** A card's value in its unit: bytes, a latency, or a count. */
function cardValue(card, value) {
  if (card.measure === "bytes") return bytes(value);
  if (card.measure.startsWith("latency")) return duration(value);
  return Number(value).toLocaleString();
}

async function loadDashboard() {
  const board = $("dashboard");
  if (board.hidden) return;
  const cards = await Promise.all(CARDS.map(async (card) => {
    const dataset = card.dataset || "network_usage";
    const params = { dataset, group_by: card.group_by, measure: card.measure, top: 10 };
    return { card, stats: await api("/api/stats", params, dataset, card.filter) };
  }));
  // Each group a bar of its share of the card's largest, so the eye reads the ranking.
  board.innerHTML = cards.map(({ card, stats }) => {
    const largest = Math.max(1, ...stats.groups.map((g) => g.value));
    const rows = stats.groups.map((g) => `<tr><td>${escapeHtml(g.key ?? "—")}</td>
      <td class="bar"><span style="width:${(100 * g.value) / largest}%"></span></td>
      <td>${cardValue(card, g.value)}</td></tr>`).join("");
    const empty = stats.groups.length ? "" : `<p class="empty">nothing in this range${card.dataset ? " (no HTTP captured)" : ""}</p>`;
    const total = stats.total === null || stats.total === undefined || !stats.groups.length ? ""
      : `<p>total <span class="total">${cardValue(card, stats.total)}</span></p>`;
    return `<div class="card" id="card-${card.id}"><h4>${card.title}</h4><table>${rows}</table>${empty}${total}</div>`;
  }).join("");
  const talkers = cards.find(({ card }) => card.id === "talkers").stats.groups
    .map((g) => g.key).filter((key) => key !== null && key !== undefined).slice(0, SERIES_COLORS.length);
  if (talkers.length) board.insertAdjacentHTML("beforeend", await talkersOverTime(talkers));
}

const SERIES_COLORS = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#dc2626"];

/** A card of lines: the bytes each of the top talkers sent, step by step over the range. */
async function talkersOverTime(talkers) {
  const series = await Promise.all(talkers.map(async (key) => ({ key,
    timeline: await api("/api/timeline", {}, "network_usage", `src.workload = ${JSON.stringify(key)}`) })));
  const [width, height] = [600, 140];
  const peak = Math.max(1, ...series.flatMap((s) => s.timeline.bars.map((b) => b.bytes)));
  const span = Math.max(1, state.to - state.from);
  const lines = series.map(({ key, timeline }, i) => {
    const points = timeline.bars.map((bar) => `${((width * (bar.time / 1e6 - state.from)) / span).toFixed(1)},`
      + `${(height - (height * bar.bytes) / peak).toFixed(1)}`).join(" ");
    return `<polyline data-key="${escapeHtml(key)}" points="${points}" stroke="${SERIES_COLORS[i]}"/>`;
  });
  const step = series[0].timeline.step_seconds;
  const legend = series.map(({ key }, i) =>
    `<li><span style="background:${SERIES_COLORS[i]}"></span>${escapeHtml(key)}</li>`).join("");
  return `<div class="card wide" id="card-talkers-time"><h4>Top talkers over time</h4>
    <svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none">${lines.join("")}</svg>
    <p>peak <span class="total">${bytes(peak)}</span> per ${duration(step * 1e6)},
    ${clock(state.from, true)} – ${clock(state.to, true)} UTC</p><ul class="series">${legend}</ul></div>`;
}

$("dashboard-on").addEventListener("change", () => {
  $("dashboard").hidden = !$("dashboard-on").checked;
  $("map-area").hidden = $("dashboard-on").checked;
  loadDashboard();
});

// ---- anomalies --------------------------------------------------------------------------------

/** The flags of the range, as last loaded (none while the panel is closed). */
let flags = [];
/** Requests of flags made so far: an answer to one that is no longer the last is dropped. */
let anomalyRequests = 0;

async function loadAnomalies() {
  const request = ++anomalyRequests;
  if ($("anomalies").hidden) {
    flags = [];
    markAnomalies();
    return;
  }
  if (state.view === "hosts") {
    // The hosts map's filter is over captured sessions; the flags read network usage.
    flags = [];
    $("anomaly-list").innerHTML = `<li class="note">The flags are of network usage: open the logical map.</li>`;
    markAnomalies();
    return;
  }
  const answer = await api("/api/anomalies", { baseline: $("anomaly-baseline").value }, "network_usage");
  if (request !== anomalyRequests) return;
  flags = answer.anomalies;
  const items = flags.map((anomaly, i) => `<li class="anomaly" data-kind="${anomaly.kind}">
    <strong>${ANOMALY_TITLES[anomaly.kind]}</strong>${escapeHtml(describeAnomaly(anomaly))}
    <div><button data-flag="${i}" data-do="show">Show it</button>${anomaly.workload
    ? `<button data-flag="${i}" data-do="details">Details · Attach Whisperer</button>` : ""}</div></li>`);
  const none = `<li class="empty">Nothing unusual in this range against the last ${
    $("anomaly-baseline").selectedOptions[0].textContent} (a lake younger than that is still learning).</li>`;
  const elsewhere = state.view === "logical" || !flags.length ? ""
    : `<li class="note">The flags are marked on the logical map.</li>`;
  $("anomaly-list").innerHTML = (items.join("") || none) + elsewhere;
  markAnomalies();
}

/** Marks the flagged nodes and edges; with "anomalies only", hides the rest. */
function markAnomalies() {
  cy.batch(() => {
    cy.elements().removeClass("anomalous calm");
    markedIds(flags).forEach((id) => cy.getElementById(id).addClass("anomalous"));
    if (!$("anomalies").hidden && $("anomalies-only").checked) {
      cy.edges().not(".anomalous").addClass("calm");
      cy.nodes(":childless").not(".anomalous").addClass("calm");
      cy.nodes(":parent").filter((n) => n.descendants(".anomalous").empty()).addClass("calm");
    }
  });
}

/** Loads the flags on their own (the panel opened, the baseline changed), saying why if it fails. */
function reloadAnomalies() {
  const request = anomalyRequests + 1;
  loadAnomalies().catch((error) => {
    if (request !== anomalyRequests) return;
    flags = [];
    markAnomalies();
    $("anomaly-list").innerHTML = `<li class="panel-error" role="alert">The anomalies could not load: ${
      escapeHtml(error.message || error)}</li>`;
  });
}

$("anomalies-on").addEventListener("change", () => {
  $("anomalies").hidden = !$("anomalies-on").checked;
  reloadAnomalies();
});
$("anomaly-baseline").addEventListener("change", reloadAnomalies);
$("anomalies-only").addEventListener("change", markAnomalies);
$("anomaly-list").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-flag]");
  if (!button) return;
  const anomaly = flags[Number(button.dataset.flag)];
  if (button.dataset.do === "details") showDetails(anomaly.source);
  else if (anomaly.select) addFilter(anomaly.select);
});

// ---- saved queries --------------------------------------------------------------------------

/** Sends JSON to the API; the answer's JSON, or null for an empty one. */
async function send(method, path, body) {
  busy(+1);
  try {
    const response = await fetch(path, { method, headers: { "Content-Type": "application/json",
      ...authorization() }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401) {
      busy(-1);
      return askForToken();
    }
    const text = await response.text();
    const answer = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error(answer && answer.error ? answer.error.message : response.statusText);
    busy(-1);
    return answer;
  } catch (error) {
    busy(-1, String(error.message || error));
    throw error;
  }
}

let savedQueries = [];

async function loadSaved(selected) {
  savedQueries = await send("GET", "/api/queries");
  $("saved").innerHTML = `<option value="">—</option>` + savedQueries
    .map((q) => `<option value="${q.id}">${escapeHtml(q.name)}</option>`).join("");
  $("saved").value = selected === undefined ? "" : String(selected);
}

const current = (name) => ({ name, view: state.view, filter: state.filter,
  from: String(state.from), to: String(state.to) });

$("saved").addEventListener("change", () => {
  const query = savedQueries.find((q) => String(q.id) === $("saved").value);
  if (!query) return;
  $("saved-name").value = query.name;
  Object.assign(state, { view: query.view, filter: query.filter, from: Number(query.from),
    to: Number(query.to) });
  refresh();
});
$("save").addEventListener("click", async () => {
  const created = await send("POST", "/api/queries", current($("saved-name").value.trim() || "untitled"));
  await loadSaved(created.id);
});
$("rename").addEventListener("click", async () => {
  const id = $("saved").value;
  if (!id) return;
  const query = savedQueries.find((q) => String(q.id) === id);
  await send("PUT", `/api/queries/${id}`, { ...query, id: undefined, name: $("saved-name").value.trim() });
  await loadSaved(id);
});
$("delete").addEventListener("click", async () => {
  const id = $("saved").value;
  if (!id) return;
  await send("DELETE", `/api/queries/${id}`);
  $("saved-name").value = "";
  await loadSaved();
});

// ---- filter completion ----------------------------------------------------------------------

/** Offers the fields of the grid's dataset, each continuing what is typed so far. */
async function loadFields() {
  const dataset = state.dataset || DATASET[state.view];
  const answer = await api(`/api/fields/${dataset}`, {});
  const typed = $("filter").value;
  const head = typed.replace(/[^\s(]*$/, "");
  $("fields").innerHTML = answer.fields
    .map((f) => `<option value="${escapeHtml(head + f.name + " = ")}">${f.kind}</option>`).join("");
}
$("filter").addEventListener("input", loadFields);

/** The stats panel groups by any one-valued field of the grid's dataset. */
async function loadGroups() {
  const dataset = state.dataset || DATASET[state.view];
  const answer = await api(`/api/fields/${dataset}`, {});
  const either = new Set(answer.fields.filter((f) => f.name.startsWith("src.")).map((f) => f.name.slice(4)));
  const chosen = $("group-by").value;
  $("group-by").innerHTML = `<option value="">—</option>` + answer.fields
    .filter((f) => !either.has(f.name) && f.kind !== "number" || ["port", "status"].includes(f.name))
    .map((f) => `<option value="${f.name}">${f.name}</option>`).join("");
  $("group-by").value = [...$("group-by").options].some((o) => o.value === chosen) ? chosen : "";
}

// ---- timeline pan and zoom --------------------------------------------------------------------

function moveRange(startShare, endShare) {
  const span = state.to - state.from;
  [state.from, state.to] = [Math.round(state.from + span * startShare), Math.round(state.from + span * endShare)];
  refresh();
}
$("pan-back").addEventListener("click", () => moveRange(-0.5, 0.5));
$("pan-forward").addEventListener("click", () => moveRange(0.5, 1.5));
$("zoom-in").addEventListener("click", () => moveRange(0.25, 0.75));
$("zoom-out").addEventListener("click", () => moveRange(-0.5, 1.5));

// ---- wiring ---------------------------------------------------------------------------------

function refresh() {
  remember();
  const span = String(state.to - state.from);
  $("preset").value = [...$("preset").options].some((o) => o.value === span) ? span : "";
  $("view").value = state.view;
  $("filter").value = state.filter;
  $("details").innerHTML = "";
  return Promise.allSettled([loadMap(), loadTimeline(), loadGrid(), loadDashboard(), loadAnomalies(), loadFields(),
    loadGroups()]).then(showFailures).then((results) => { markAnomalies(); return results; });
}

/** The map's empty state as the page has it, for when an error took its place. */
const EMPTY_MAP = $("map-empty").innerHTML;

/** Each panel that could not load says so where it is, with the API's reason. */
function showFailures(results) {
  ["map", "timeline", "grid", "dashboard", "anomalies"].forEach((panel, i) => {
    if (results[i].status === "fulfilled") {
      if (panel === "map") $("map-empty").innerHTML = EMPTY_MAP;
      return;
    }
    const reason = results[i].reason;
    const message = `The ${panel} could not load: ${escapeHtml(reason && reason.message ? reason.message : reason)}`;
    if (panel === "map") {
      $("map-empty").innerHTML = message;
      $("map-empty").hidden = false;
    } else if (panel === "anomalies") {
      $("anomaly-list").innerHTML = `<li class="panel-error" role="alert">${message}</li>`;
    } else {
      $(panel).innerHTML = `<p class="panel-error" role="alert">${message}</p>`;
    }
  });
  return results;
}

$("view").addEventListener("change", () => { state.view = $("view").value; state.sort = ""; refresh(); });
document.querySelectorAll("#toggles input").forEach((box) => box.addEventListener("change", refresh));
$("dataset").addEventListener("change", () => {
  state.dataset = $("dataset").value;
  state.sort = "";
  remember();
  loadGrid();
  loadGroups();
});
$("preset").addEventListener("change", () => {
  if (!$("preset").value) return;
  state.to = Math.floor(Date.now() / 1000);
  state.from = state.to - Number($("preset").value);
  refresh();
});
$("apply").addEventListener("click", () => { state.filter = $("filter").value.trim(); refresh(); });
$("filter").addEventListener("keydown", (event) => { if (event.key === "Enter") $("apply").click(); });

// ---- background refreshes ---------------------------------------------------------------------

/** One timer per name: starting a refresh again replaces its timer, never adds a second. */
const timers = new Map();
function every(name, task, milliseconds) {
  clearInterval(timers.get(name));
  task();
  timers.set(name, setInterval(task, milliseconds));
}

// ---- the catalog ----------------------------------------------------------------------------

/** Labels of the datasets; a dataset the catalog lists without one shows its own name. */
const DATASET_LABELS = {
  network_usage: "network usage", tcp_sessions: "TCP sessions", http: "HTTP", packets: "IP packets", hosts: "host names",
};

/** Fills the grid's dataset choice from the service's catalog (`GET /api/datasets`). */
async function loadCatalog() {
  const answer = await api("/api/datasets", {});
  if (!answer) return;
  $("dataset").innerHTML = answer.datasets
    .map((d) => `<option value="${escapeHtml(d.name)}">${escapeHtml(DATASET_LABELS[d.name] || d.name.replaceAll("_", " "))}</option>`)
    .join("");
}

// ---- clusters -------------------------------------------------------------------------------

/** `?cluster=NAME` for a link of the chosen cluster (none when every cluster is read). */
function inCluster() {
  const cluster = chosenCluster(state);
  return cluster ? `?cluster=${encodeURIComponent(cluster)}` : "";
}

/** A reporter silent for longer than this (three of its 15 s reports) is shown as not reporting. */
const SILENT_MICROS = 45e6;
const reporting = (report) => Date.now() * 1000 - report.reported < SILENT_MICROS;

/** One cluster as the picker shows it: its controller, its agents and their last report. */
function clusterCard(cluster) {
  const controller = cluster.controller;
  const status = !controller ? "no controller reports"
    : !reporting(controller) ? `<span class="down">controller silent since ${ago(controller.reported, Date.now())}</span>`
    : controller.ready ? `controller ready, ${controller.feeds} following, ${ago(controller.reported, Date.now())}`
    : `<span class="down">controller listing the cluster (${ago(controller.reported, Date.now())})</span>`;
  const agents = cluster.agents.length === 1 ? "1 agent" : `${cluster.agents.length} agents`;
  const last = cluster.last_report ? `, last wrote ${ago(cluster.last_report, Date.now())}` : ", nothing written yet";
  const capturing = cluster.whisperers.filter((w) => reporting(w) && w.captures.length > 0).length;
  const whisperers = cluster.whisperers.length === 0 ? ""
    : `<span>${cluster.whisperers.length} Whisperer${cluster.whisperers.length === 1 ? "" : "s"}, ${capturing} capturing</span>`;
  return `<li><button data-cluster="${escapeHtml(cluster.name)}"><strong>${escapeHtml(cluster.name)}</strong>
    <span>${status}</span><span>${agents}${last}</span>${whisperers}</button></li>`;
}

/** Reads the chosen cluster, or every one, and draws it. */
function chooseCluster(name) {
  state.cluster = name;
  $("cluster").querySelector("option[value='']")?.remove();
  $("cluster").value = name;
  $("cluster-picker").hidden = true;
  $("map-area").hidden = false;
  refresh();
}

/**
 * The lake's clusters (`GET /api/clusters`). With more than one the selector shows, and a screen
 * with no cluster chosen opens on the list of them, as the seeds have it: true when the screen
 * can be drawn now.
 */
async function loadClusters() {
  const answer = await api("/api/clusters", {});
  const clusters = answer ? answer.clusters : [];
  soleCluster = clusters.length === 1 ? clusters[0].name : null;
  if (clusters.length < 2) return true;
  $("cluster").innerHTML = `<option value="${ALL_CLUSTERS}">all clusters</option>` + clusters
    .map((c) => `<option value="${escapeHtml(c.name)}">${escapeHtml(c.name)}</option>`).join("");
  $("cluster-choice").hidden = false;
  if (state.cluster) {
    $("cluster").value = state.cluster;
    return true;
  }
  $("cluster").insertAdjacentHTML("afterbegin", `<option value="" hidden>choose…</option>`);
  $("cluster").value = "";
  $("cluster-picker").innerHTML = `<h3>Choose the cluster to look at</h3><ul>${clusters.map(clusterCard).join("")}
    <li><button data-cluster="${ALL_CLUSTERS}"><strong>all clusters</strong><span>every cluster's traffic on one map</span></button></li></ul>`;
  $("cluster-picker").querySelectorAll("button").forEach((button) =>
    button.addEventListener("click", () => chooseCluster(button.dataset.cluster)));
  $("map-area").hidden = true;
  $("cluster-picker").hidden = false;
  return false;
}
$("cluster").addEventListener("change", () => chooseCluster($("cluster").value));

// Escape closes the details panel and clears the map's selection.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  $("details").innerHTML = "";
  $("tip").hidden = true;
  cy.elements().unselect();
});

// The map loads even when the catalog or the cluster list does not (the grid then falls back
// to its view's dataset; every cluster is read).
loadCatalog().catch(() => {})
  .then(() => loadClusters().catch(() => true))
  .then((drawNow) => { if (drawNow) refresh(); });
loadSaved();
every("captures", loadCaptures, 3000);
