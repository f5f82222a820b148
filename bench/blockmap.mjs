// Block-map webview timings in Chromium, on the browser test's page: the shipped bundle behind a host
// stand-in that bins 1,000,000 ranges over 4 TiB. Targets: first paint < 250 ms, zoom < 50 ms.
//   node bench/blockmap.mjs        prints the medians as JSON
// firstPaintMs: from the bundle starting to the first map painted with the host's bins (handshake,
//   binning of the whole disk and painting included). zoomMs: from a zoom key press to the new
//   window's exact bins painted.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../scripts/ensure-chromium.mjs';
import { prepareBlockMapPage } from '../test/browser/prepare.mjs';

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round = (ms) => Math.round(ms * 10) / 10;

/**
 * @param {{ runs?: number, zoomsPerRun?: number }} [options]
 * @returns {Promise<{ firstPaintMs: number, zoomMs: number, runs: number, zooms: number, targets: { firstPaintMs: number, zoomMs: number } }>}
 */
export async function measureBlockMap({ runs = 7, zoomsPerRun = 6 } = {}) {
  const url = await prepareBlockMapPage();
  const browser = await launchChromium();
  const firstPaints = [];
  const zooms = [];
  try {
    for (let run = 0; run < runs; run++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
      try {
        const page = await context.newPage();
        await page.goto(url);
        await page.waitForSelector('#block-map[data-painted="1"]', { timeout: 30_000 });
        const settled = () => page.waitForFunction(() => globalThis.blockMapProbe.settled(), undefined, { timeout: 10_000 });
        await settled();
        firstPaints.push(...(await page.evaluate(() => globalThis.blockMapProbe.measures('blockmap:first-paint-from-start'))));
        await page.focus('#block-map');
        for (let i = 0; i < zoomsPerRun; i++) {
          await page.keyboard.press(i < zoomsPerRun / 2 ? '+' : '-');
          await settled();
        }
        zooms.push(...(await page.evaluate(() => globalThis.blockMapProbe.measures('blockmap:zoom'))));
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  return {
    firstPaintMs: round(median(firstPaints)),
    zoomMs: round(median(zooms)),
    runs,
    zooms: zooms.length,
    targets: { firstPaintMs: 250, zoomMs: 50 },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await measureBlockMap(), null, 2));
}
