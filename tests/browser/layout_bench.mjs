// The map's layout in the browser: a compound graph of N leaves (default 2,000) in namespaces,
// laid out by fCoSE and drawn, in Debian's Chromium, at a quality (`default` or `draft`, the one
// the UI uses above 500 nodes). Prints the median of 3 runs after a warm-up. Goal: under 2 s for
// 2,000 nodes. QUALITY `collapsed` is a physical view as the UI opens a big one: N pods in
// namespaces on 20 nodes, every node collapsed (its pods hidden, their traffic summed onto edges
// between nodes, as the UI's redrawCollapsed does), only what shows laid out. Goal: under 1 s
// for 10,000 pods.
//
//   node tests/browser/layout_bench.mjs [N] [QUALITY]
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";
import path from "node:path";

const leaves = Number(process.argv[2] || 2000);
const quality = process.argv[3] || "default";
const vendor = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../server/ui/vendor");
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
await page.setContent(`<div id="map" style="width:1400px;height:900px"></div>`);
for (const file of ["cytoscape.min.js", "layout-base.js", "cose-base.js", "cytoscape-fcose.js"]) {
  await page.addScriptTag({ path: path.join(vendor, file) });
}
const runs = [];
for (let run = 0; run < 4; run++) {
  runs.push(await page.evaluate(([n, layoutQuality]) => {
    cytoscape.use(cytoscapeFcose);
    const collapsed = layoutQuality === "collapsed";
    const groups = collapsed ? 20 : Math.max(1, Math.round(n / 40));
    const elements = [];
    const namespaceOf = (i) => (collapsed ? `n${i % groups}/ns${i % 7}` : `ns${i % groups}`);
    for (let g = 0; g < groups; g++) {
      if (collapsed) {
        elements.push({ data: { id: `n${g}` } });
        for (let ns = 0; ns < 7; ns++) {
          elements.push({ data: { id: `n${g}/ns${ns}`, parent: `n${g}` }, classes: "hidden" });
        }
      } else {
        elements.push({ data: { id: `ns${g}` } });
      }
    }
    for (let i = 0; i < n; i++) elements.push({ data: { id: `w${i}`, parent: namespaceOf(i) },
      classes: collapsed ? "hidden" : "" });
    // Each leaf talks to two others, mostly in its own group: about 2n edges.
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 2; k++) {
        const j = random() < 0.7 ? (i + groups * (1 + Math.floor(random() * 5))) % n : Math.floor(random() * n);
        if (j !== i) elements.push({ data: { id: `e${i}-${k}`, source: `w${i}`, target: `w${j}`, bytes: 1 + (i % 97) } });
      }
    }
    const started = performance.now();
    const cy = cytoscape({ container: document.getElementById("map"), elements,
      style: [{ selector: ".hidden", style: { display: "none" } }, { selector: "node", style: { width: 30, height: 30 } }] });
    if (collapsed) {
      const sums = new Map();
      cy.edges().forEach((edge) => {
        const [from, to] = [edge.source().data("parent").split("/")[0], edge.target().data("parent").split("/")[0]];
        if (from === to) return;
        sums.set(`${from}>${to}`, (sums.get(`${from}>${to}`) || 0) + edge.data("bytes"));
      });
      cy.add([...sums].map(([key, bytes]) => {
        const [source, target] = key.split(">");
        return { group: "edges", data: { id: `meta:${key}`, source, target, bytes } };
      }));
    }
    // As the UI does: what collapsed nodes hold is taken out for the layout, then put back.
    const out = cy.nodes(".hidden").union(cy.nodes(".hidden").connectedEdges()).remove();
    cy.layout({ name: "fcose", animate: false, randomize: true,
      quality: collapsed ? "default" : layoutQuality, nodeDimensionsIncludeLabels: true }).run();
    out.restore();
    cy.forceRender();
    const seconds = (performance.now() - started) / 1000;
    cy.destroy();
    return seconds;
  }, [leaves, quality]));
}
const measured = runs.slice(1).sort((a, b) => a - b);
const shape = quality === "collapsed"
  ? `${leaves} pods on 20 collapsed nodes`
  : `${leaves} leaves, ${Math.max(1, Math.round(leaves / 40))} namespaces`;
const goal = quality === "collapsed" ? 1 : 2;
console.log(`${shape}, ~${2 * leaves} edges (${quality}): layout + draw median ${measured[1].toFixed(2)} s (runs ${measured.map((s) => s.toFixed(2)).join(", ")} s; goal < ${goal} s)`);
await browser.close();
