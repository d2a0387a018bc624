// Drives Spider's UI in Debian's Chromium and prints what it saw as JSON, for tests/it/ui.rs to
// check against the API. Screenshots go to OUT.
//
//   node ui.mjs BASE_URL OUT SCENARIO   SCENARIO: views | map | demo | big-physical | bad-filter | anomalies | attach | toggles | pollers | click-edge | timeline | save | load-saved | token | capture | clusters
import { chromium } from "playwright-core";

const [base, out, scenario] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
const errors = [];
page.on("pageerror", (error) => errors.push(String(error)));

/** Waits until nothing is loading, then returns the map's nodes as the page holds them. */
async function settled() {
  await page.waitForFunction(() => document.getElementById("map").dataset.edges !== undefined
    && !document.getElementById("status").classList.contains("loading"));
  return page.evaluate(() => cy.nodes().map((n) => ({ id: n.id(), parent: n.data("parent") || null,
    compound: n.isParent() })));
}

const seen = {};
await page.goto(base.includes("view=") ? base : `${base}&view=logical`);
if (scenario === "views") {
  seen.logical = await settled();
  await page.screenshot({ path: `${out}/map-logical.png` });
  await page.selectOption("#view", "physical");
  await page.waitForFunction(() => location.search.includes("view=physical"));
  await page.waitForTimeout(100);
  seen.physical = await settled();
  await page.screenshot({ path: `${out}/map-physical.png` });
} else if (scenario === "anomalies") {
  // The anomalies panel against the last hour: its flags listed and marked on the map, then
  // the map cut to them, then one flag's clause applied.
  await settled();
  await page.check("#anomalies-on");
  await page.selectOption("#anomaly-baseline", "1h");
  await page.waitForSelector("#anomaly-list li.anomaly");
  await page.waitForFunction(() => !document.getElementById("status").classList.contains("loading"));
  const flagged = () => page.evaluate(() => ({
    listed: [...document.querySelectorAll("#anomaly-list li.anomaly")].map((li) => ({ kind: li.dataset.kind,
      text: li.textContent.replace(/\s+/g, " ").trim() })),
    marked: cy.elements(".anomalous").map((e) => e.id()).sort(),
    shown: cy.elements().filter((e) => e.style("display") !== "none").map((e) => e.id()).sort(),
  }));
  seen.flagged = await flagged();
  await page.screenshot({ path: `${out}/anomalies.png` });
  await page.check("#anomalies-only");
  seen.only = await flagged();
  await page.screenshot({ path: `${out}/anomalies-only.png` });
  await page.uncheck("#anomalies-only");
  await page.click('#anomaly-list li[data-kind="new_edge"] button[data-do="show"]');
  await page.waitForFunction(() => location.search.includes("filter="));
  await settled();
  seen.filter = new URL(page.url()).searchParams.get("filter");
  seen.edgesAfter = await page.evaluate(() => cy.edges().map((e) => e.id()));
  await page.screenshot({ path: `${out}/anomaly-shown.png` });
} else if (scenario === "toggles") {
  seen.before = await settled();
  await page.uncheck("#toggles input[data-class=external]");
  await page.waitForTimeout(100);
  seen.after = await settled();
  await page.selectOption("#group-by", "dst.namespace");
  await page.waitForSelector("#stats tr");
  seen.stats = await page.evaluate(() => [...document.querySelectorAll("#stats tr")]
    .map((tr) => tr.children[0].textContent));
  await page.screenshot({ path: `${out}/toggles-stats.png` });
  await page.check("#dashboard-on");
  await page.waitForSelector("#card-cross .total");
  await page.waitForSelector("#card-talkers-time polyline");
  seen.dashboard = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#dashboard .card")]
    .map((card) => [card.id, [...card.querySelectorAll("tr")].map((tr) => tr.children[0].textContent)])));
  seen.talkersOverTime = await page.evaluate(() => [...document.querySelectorAll("#card-talkers-time polyline")]
    .map((line) => ({ key: line.dataset.key, points: line.getAttribute("points").split(" ").length })));
  await page.screenshot({ path: `${out}/dashboard.png` });
  await page.uncheck("#dashboard-on");
  await page.click("#columns summary");
  await page.uncheck("#column-list input[value=date]");
  await page.waitForFunction(() => ![...document.querySelectorAll("#grid th")].some((th) => th.dataset.column === "date"));
  seen.columns = await page.evaluate(() => [...document.querySelectorAll("#grid th")].map((th) => th.dataset.column));
  seen.clicked = await page.evaluate(() => {
    const leaf = cy.nodes().filter((n) => !n.isParent() && n.id().startsWith("w|")).max((n) => n.data("bytes")).ele;
    leaf.emit("tap");
    return leaf.id();
  });
  await page.waitForSelector("#details h4 + svg.sparkline");
  seen.details = await page.evaluate(() => ({
    title: document.querySelector("#details h3").firstChild.textContent.trim(),
    sections: [...document.querySelectorAll("#details h4")].map((h) => h.textContent),
  }));
  await page.screenshot({ path: `${out}/details.png` });
} else if (scenario === "map") {
  // The map as drawn: every node with its label, every edge with its bytes and its tooltip text.
  await settled();
  seen.nodes = await page.evaluate(() => cy.nodes().map((n) => ({ id: n.id(), label: n.data("label"),
    parent: n.data("parent") || null, compound: n.isParent(), bytes: n.data("bytes") })));
  seen.edges = await page.evaluate(() => cy.edges().map((e) => ({ source: e.data("source"),
    target: e.data("target"), bytes: e.data("bytes"), ports: e.data("ports") })));
  await page.screenshot({ path: `${out}/map-end-to-end.png` });
} else if (scenario === "demo") {
  // The living demo: the map as drawn, its legend, and the capture the demo attached.
  await settled();
  seen.edges = await page.evaluate(() => cy.edges().map((e) => ({ source: e.data("source"),
    target: e.data("target"), bytes: e.data("bytes") })));
  seen.legend = await page.evaluate(() => [...document.querySelectorAll("#legend li[data-kind]")]
    .map((li) => li.dataset.kind));
  await page.waitForFunction(() => Number(document.querySelector("#captures .capture-status")
    ?.dataset.packets) > 0, null, { timeout: 20000 });
  seen.captures = await page.evaluate(() => document.getElementById("captures").innerText);
  await page.screenshot({ path: `${out}/demo-logical.png` });
  await page.selectOption("#view", "physical");
  await page.waitForFunction(() => location.search.includes("view=physical"));
  await page.waitForTimeout(100);
  await settled();
  await page.screenshot({ path: `${out}/demo-physical.png` });
} else if (scenario === "big-physical") {
  // A big physical map opens with its nodes collapsed; a double tap drills into one.
  await settled();
  const drawn = () => page.evaluate(() => {
    const shown = (eles) => eles.filter((n) => n.style("display") !== "none");
    return { nodes: cy.nodes(':parent[kind = "Node"]').length,
      collapsed: cy.nodes(':parent[kind = "Node"].collapsed').length,
      leaves: cy.nodes(":childless").length,
      shownOnNodes: shown(cy.nodes(":childless").filter((n) => n.ancestors('[kind = "Node"]').nonempty())).length,
      meta: cy.edges(".meta").length };
  });
  seen.opened = await drawn();
  await page.screenshot({ path: `${out}/big-physical-collapsed.png` });
  seen.drilled = await page.evaluate(() => {
    const node = cy.nodes(':parent[kind = "Node"]').first();
    node.emit("dbltap");
    const inside = node.descendants(":childless");
    const spots = new Set(inside.map((n) => `${Math.round(n.position("x"))},${Math.round(n.position("y"))}`));
    return { id: node.id(), inside: inside.length, shown: inside.filter((n) => n.style("display") !== "none").length,
      spots: spots.size };
  });
  seen.after = await drawn();
  await page.screenshot({ path: `${out}/big-physical-drilled.png` });
} else if (scenario === "bad-filter") {
  // A filter the API refuses: each panel says so where it is.
  await page.waitForSelector("#grid .panel-error");
  await page.waitForSelector("#timeline .panel-error");
  seen.grid = await page.textContent("#grid .panel-error");
  seen.timeline = await page.textContent("#timeline .panel-error");
  seen.map = await page.evaluate(() => ({ hidden: document.getElementById("map-empty").hidden,
    text: document.getElementById("map-empty").textContent }));
  await page.screenshot({ path: `${out}/bad-filter.png` });
} else if (scenario === "attach") {
  // Attach a Whisperer to shop/web from its details, watch its status, stop it.
  await settled();
  await page.evaluate(() => cy.getElementById("w|shop|Deployment|web").emit("tap"));
  await page.waitForSelector("#attach-whisperer");
  await page.fill("#attach input[name=filter]", "tcp port 80");
  await page.click("#attach-whisperer");
  await page.waitForFunction(() => {
    const status = document.querySelector("#captures .capture-status");
    return status && Number(status.dataset.packets) > 0 && status.dataset.pods.split(",").length === 3;
  }, null, { timeout: 20000 });
  seen.attached = await page.evaluate(() => document.querySelector("#captures li b").textContent);
  seen.status = await page.evaluate(() => document.querySelector("#captures .capture-status").textContent
    .replace(/\s+/g, " ").trim());
  await page.screenshot({ path: `${out}/whisperer-attached.png` });
  await page.click("#captures button[data-stop]");
  await page.waitForFunction(() => document.querySelectorAll("#captures li").length === 0);
  seen.after_stop = await page.evaluate(() => [...document.querySelectorAll("#captures li")].map((li) => li.textContent));
} else if (scenario === "click-edge") {
  await settled();
  seen.edge = await page.evaluate(() => {
    const edge = cy.edges().max((e) => e.data("bytes")).ele;
    edge.emit("tap");
    return { source: edge.data("source"), target: edge.data("target") };
  });
  await page.waitForFunction(() => location.search.includes("filter="));
  await page.waitForTimeout(100);
  seen.nodes = await settled();
  await page.waitForFunction(() => document.getElementById("grid").dataset.rows !== undefined);
  seen.filter = new URL(page.url()).searchParams.get("filter");
  seen.grid = await page.evaluate(() => [...document.querySelectorAll("#grid tbody tr")].length);
  await page.screenshot({ path: `${out}/edge-filtered.png` });
} else if (scenario === "legend") {
  // The legend lists the leaf kinds drawn; hovering shows the API's numbers; selecting a leaf
  // fades all but its neighbourhood.
  await settled();
  seen.kinds = await page.evaluate(() => [...new Set(cy.nodes(":childless").map((n) => n.data("kind")))]);
  seen.legend = await page.evaluate(() => [...document.querySelectorAll("#legend li[data-kind]")]
    .map((li) => li.dataset.kind));
  seen.edgeTip = await page.evaluate(() => {
    const edge = cy.edges().max((e) => e.data("bytes")).ele;
    edge.emit("mouseover");
    const tip = document.getElementById("tip");
    return { id: edge.id(), source: edge.data("source"), target: edge.data("target"), shown: !tip.hidden,
      text: tip.innerText, bytesToServer: Number(tip.dataset.bytesToServer),
      bytesToClient: Number(tip.dataset.bytesToClient) };
  });
  await page.screenshot({ path: `${out}/map-tooltip.png` });
  seen.nodeTip = await page.evaluate(() => {
    const leaf = cy.nodes(":childless").max((n) => n.data("bytes")).ele;
    leaf.emit("mouseover");
    const tip = document.getElementById("tip");
    const text = tip.innerText;
    leaf.emit("mouseout");
    return { id: leaf.id(), text, bytes: Number(tip.dataset.bytes), hiddenAfter: tip.hidden };
  });
  seen.faded = await page.evaluate(() => {
    const leaf = cy.nodes(":childless").max((n) => n.data("bytes")).ele;
    leaf.select();
    const result = { faded: cy.elements(".faded").length, near: leaf.closedNeighborhood().length,
      all: cy.elements().length };
    return result;
  });
  await page.screenshot({ path: `${out}/map-selected.png` });
  // A double tap collapses a namespace onto edges of its own, and another brings it back.
  seen.collapse = await page.evaluate(() => {
    cy.elements().unselect();
    const compound = cy.nodes(":parent").filter((n) => n.id().startsWith("ns|"))
      .max((n) => n.descendants().length).ele;
    const inside = compound.descendants();
    const crossing = inside.connectedEdges()
      .filter((e) => !(inside.contains(e.source()) && inside.contains(e.target())));
    const shown = (eles) => eles.filter((n) => n.style("display") !== "none").length;
    const visibleBefore = shown(cy.nodes());
    compound.emit("dbltap");
    const meta = cy.edges(".meta");
    return { id: compound.id(), inside: inside.length, stillShown: shown(inside),
      crossingBytes: crossing.reduce((sum, e) => sum + e.data("bytes"), 0),
      metaBytes: meta.reduce((sum, e) => sum + e.data("bytes"), 0), meta: meta.length,
      metaTouch: meta.every((e) => e.data("source") === compound.id() || e.data("target") === compound.id()),
      visibleBefore };
  });
  await page.screenshot({ path: `${out}/map-collapsed.png` });
  seen.expanded = await page.evaluate((id) => {
    cy.getElementById(id).emit("dbltap");
    const visible = cy.nodes().filter((n) => n.style("display") !== "none").length;
    return { visible, meta: cy.edges(".meta").length };
  }, seen.collapse.id);
} else if (scenario === "clusters") {
  // Several clusters: the page opens on the picker; choosing one draws its map alone.
  await page.waitForSelector("#cluster-picker:not([hidden]) button");
  seen.cards = await page.evaluate(() => [...document.querySelectorAll("#cluster-picker button")]
    .map((button) => ({ cluster: button.dataset.cluster, text: button.innerText })));
  seen.mapShown = await page.evaluate(() => !document.getElementById("map-area").hidden);
  await page.screenshot({ path: `${out}/clusters-picker.png` });
  await page.click("#cluster-picker button[data-cluster=east]");
  await page.waitForFunction(() => location.search.includes("cluster=east"));
  seen.east = await settled();
  seen.selector = await page.evaluate(() => [...document.querySelectorAll("#cluster option")].map((o) => o.value));
  await page.screenshot({ path: `${out}/clusters-east.png` });
  // The choice is in the URL: a reload draws the same cluster, without the picker.
  await page.reload();
  seen.reloaded = await settled();
  seen.pickerAfterReload = await page.evaluate(() => !document.getElementById("cluster-picker").hidden);
  await page.selectOption("#cluster", "west");
  await page.waitForFunction(() => location.search.includes("cluster=west"));
  await page.waitForTimeout(100);
  seen.west = await settled();
} else if (scenario === "pollers") {
  // Range changes must not start more background polls: count the capture polls after four.
  await settled();
  let polls = 0;
  page.on("request", (request) => { if (new URL(request.url()).pathname === "/api/captures") polls += 1; });
  for (const preset of ["21600", "3600", "86400", "3600"]) {
    await page.selectOption("#preset", preset);
    await settled();
  }
  polls = 0;
  await page.waitForTimeout(6500);
  seen.polls = polls;
} else if (scenario === "timeline") {
  await settled();
  const before = new URL(page.url()).search;
  const box = await page.locator("#timeline svg").boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.25, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((search) => location.search !== search, before);
  await page.waitForTimeout(100);
  seen.nodes = await settled();
  const params = new URL(page.url()).searchParams;
  seen.from = Number(params.get("from"));
  seen.to = Number(params.get("to"));
  const range = () => { const p = new URL(page.url()).searchParams; return [Number(p.get("from")), Number(p.get("to"))]; };
  await page.click("#zoom-out");
  await page.waitForFunction((from) => new URL(location.href).searchParams.get("from") !== String(from), seen.from);
  seen.zoomedOut = range();
  await page.click("#pan-back");
  await page.waitForFunction((from) => new URL(location.href).searchParams.get("from") !== String(from), seen.zoomedOut[0]);
  seen.panned = range();
  await settled();
  seen.axis = await page.evaluate(() => [...document.querySelectorAll("#timeline .axis span")].map((s) => s.textContent));
  seen.rangeLabel = await page.evaluate(() => document.querySelector("#timeline .range").textContent);
  seen.barTitle = await page.evaluate(() => document.querySelector("#timeline rect.bar title").textContent);
  // Escape closes a workload's details and clears the selection it made.
  await page.evaluate(() => {
    const leaf = cy.nodes(":childless").filter((n) => n.id().startsWith("w|")).max((n) => n.data("bytes")).ele;
    leaf.emit("tap");
    leaf.select();
  });
  await page.waitForSelector("#details h3");
  seen.beforeEscape = await page.evaluate(() => ({ selected: cy.$(":selected").length,
    faded: cy.elements(".faded").length }));
  await page.keyboard.press("Escape");
  seen.afterEscape = await page.evaluate(() => ({ details: document.getElementById("details").innerHTML,
    selected: cy.$(":selected").length, faded: cy.elements(".faded").length }));
  await page.screenshot({ path: `${out}/timeline-selected.png` });
} else if (scenario === "save") {
  await settled();
  await page.fill("#filter", "src.na");
  await page.waitForFunction(() => [...document.querySelectorAll("#fields option")]
    .some((o) => o.value === "src.namespace = "));
  await page.fill("#filter", "src.namespace = team-0");
  await page.click("#apply");
  await page.waitForFunction(() => location.search.includes("filter="));
  await settled();
  await page.fill("#saved-name", "team-0 out");
  await page.click("#save");
  await page.waitForFunction(() => [...document.querySelectorAll("#saved option")]
    .some((o) => o.textContent === "team-0 out" && o.selected));
  seen.saved = await page.evaluate(() => [...document.querySelectorAll("#saved option")].map((o) => o.textContent));
} else if (scenario === "load-saved") {
  await settled();
  await page.waitForFunction(() => document.querySelectorAll("#saved option").length > 1);
  await page.selectOption("#saved", { label: "team-0 out" });
  await page.waitForFunction(() => location.search.includes("filter="));
  await page.waitForTimeout(100);
  seen.nodes = await settled();
  seen.filter = new URL(page.url()).searchParams.get("filter");
  await page.screenshot({ path: `${out}/saved-query-loaded.png` });
} else if (scenario === "token") {
  await page.waitForSelector("#token-form:not([hidden])");
  seen.asked = true;
  await page.screenshot({ path: `${out}/token-asked.png` });
  await page.fill("#token", process.env.SPIDER_UI_TOKEN);
  await Promise.all([page.waitForNavigation(), page.click("#token-form button")]);
  seen.nodes = await settled();
  seen.form_hidden = await page.evaluate(() => document.getElementById("token-form").hidden);
  await page.screenshot({ path: `${out}/token-entered.png` });
} else if (scenario === "capture") {
  await settled();
  await page.waitForFunction(() => document.getElementById("grid").dataset.rows !== undefined);
  seen.http = await page.evaluate(() => {
    const headers = [...document.querySelectorAll("#grid th")].map((th) => th.dataset.column);
    return [...document.querySelectorAll("#grid tbody tr")].map((tr) => {
      const cells = [...tr.children].map((td) => td.textContent);
      return { method: cells[headers.indexOf("method")], status: cells[headers.indexOf("status")] };
    });
  });
  await page.screenshot({ path: `${out}/capture-http.png` });
  await page.selectOption("#dataset", "tcp_sessions");
  await page.waitForFunction(() => document.querySelector("#grid tbody a[download]"));
  const href = await page.getAttribute("#grid tbody a[download]", "href");
  const pcap = await page.request.get(new URL(href, page.url()).toString());
  seen.pcap = { href, status: pcap.status(), bytes: (await pcap.body()).length };
  seen.sessions = await page.evaluate(() => document.querySelectorAll("#grid tbody tr").length);
  seen.nodes = await settled();
  await page.screenshot({ path: `${out}/capture-sessions.png` });
}
seen.url = page.url();
seen.errors = errors;
console.log(JSON.stringify(seen));
await browser.close();
