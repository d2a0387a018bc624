// The map's layout in the browser: a compound graph of N leaves (default 2,000) in namespaces,
// laid out by fCoSE and drawn, in Debian's Chromium, at a quality (`default` or `draft`, the one
// the UI uses above 500 nodes). Prints the median of 3 runs after a warm-up. Goal: under 2 s for
// 2,000 nodes.
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
    const namespaces = Math.max(1, Math.round(n / 40));
    const elements = [];
    for (let ns = 0; ns < namespaces; ns++) elements.push({ data: { id: `ns${ns}` } });
    for (let i = 0; i < n; i++) elements.push({ data: { id: `w${i}`, parent: `ns${i % namespaces}` } });
    // Each leaf talks to two others, mostly in its own namespace: about 2n edges.
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 2; k++) {
        const j = random() < 0.7 ? (i + namespaces * (1 + Math.floor(random() * 5))) % n : Math.floor(random() * n);
        if (j !== i) elements.push({ data: { id: `e${i}-${k}`, source: `w${i}`, target: `w${j}` } });
      }
    }
    const started = performance.now();
    const cy = cytoscape({ container: document.getElementById("map"), elements });
    cy.layout({ name: "fcose", animate: false, randomize: true, quality: layoutQuality,
      nodeDimensionsIncludeLabels: true }).run();
    cy.forceRender();
    const seconds = (performance.now() - started) / 1000;
    cy.destroy();
    return seconds;
  }, [leaves, quality]));
}
const measured = runs.slice(1).sort((a, b) => a - b);
console.log(`${leaves} leaves, ${Math.max(1, Math.round(leaves / 40))} namespaces, ~${2 * leaves} edges: layout + draw median ${measured[1].toFixed(2)} s (runs ${measured.map((s) => s.toFixed(2)).join(", ")} s; goal < 2 s)`);
await browser.close();
