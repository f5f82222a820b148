/**
 * The block-map webview bundle alone in Chromium, behind a host stand-in that bins a fixture of
 * 1,000,000 ranges over 4 TiB (test/browser/blockmapHost.page.ts), under the panel's strict CSP.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../scripts/ensure-chromium.mjs';
import type { Prepare, Probe, ProbeView, Window } from './probe';

interface SentMessage {
  type: string;
  requestId?: number;
  format?: string;
  index?: number;
  window?: Window;
  bins?: number;
}

interface HostRecord {
  sent: SentMessage[];
  dropped: string[];
  csp: string[];
  state: { window?: Window; restoreKey?: string } | null;
  landmarks: { diskSizeBytes: number; fullyChanged: Window; untouched: Window; fullyCleared: Window; rangeCount: number };
  summary: { changedBytes: number; clearedBytes: number; rangeCount: number; largestRangeBytes: number };
}

type PageGlobals = { blockMapProbe: Probe; blockMapHost: HostRecord };

const TiB = 2 ** 40;
const CHANGED: [number, number, number] = [0x37, 0x94, 0xff];
const UNCHANGED: [number, number, number] = [0x1e, 0x1e, 0x1e];

let browser: Browser;
let url: string;
let page: Page;

const host = (): Promise<HostRecord> => page.evaluate(() => structuredClone((globalThis as unknown as PageGlobals).blockMapHost));

async function settled(): Promise<void> {
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).blockMapProbe.settled(), undefined, { timeout: 10_000 });
}

async function view(): Promise<ProbeView> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).blockMapProbe.view());
}

async function cellFor(offset: number): Promise<number> {
  const cell = await page.evaluate((o) => (globalThis as unknown as PageGlobals).blockMapProbe.cellOf(o), offset);
  assert.ok(cell >= 0, `offset ${offset} is on screen`);
  return cell;
}

async function pixelAt(offset: number): Promise<[number, number, number]> {
  const cell = await cellFor(offset);
  return page.evaluate((c) => (globalThis as unknown as PageGlobals).blockMapProbe.pixel(c), cell);
}

async function hoverOffset(offset: number): Promise<void> {
  const cell = await cellFor(offset);
  const centre = await page.evaluate((c) => (globalThis as unknown as PageGlobals).blockMapProbe.cellCentre(c), cell);
  await page.mouse.move(centre.x, centre.y);
}

async function openMap(): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('#block-map[data-painted="1"]', { timeout: 20_000 });
  await settled();
}

void describe('block map webview (1,000,000 ranges over 4 TiB)', { timeout: 180_000 }, () => {
  before(async () => {
    const prepare = (await import(pathToFileURL(path.join(import.meta.dirname, 'prepare.mjs')).href)) as Prepare;
    url = await prepare.prepareBlockMapPage();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    page = await context.newPage();
  });

  void test('first paint shows the whole disk: changed, cleared and untouched cells in theme colours, under the CSP', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    const v = await view();
    const { landmarks } = await host();
    assert.equal(v.offset, 0);
    assert.ok(v.length >= landmarks.diskSizeBytes, 'the window covers the whole disk');

    // A cell well inside the 64 GiB changed range is the pure changed colour; one inside the untouched half TiB is the background.
    assert.deepEqual(await pixelAt(landmarks.fullyChanged.offset + landmarks.fullyChanged.length / 2), CHANGED);
    assert.deepEqual(await pixelAt(landmarks.untouched.offset + landmarks.untouched.length / 2), UNCHANGED);
    const [r, g, b] = await pixelAt(landmarks.fullyCleared.offset + landmarks.fullyCleared.length / 2);
    assert.ok(r > b && r > 100, `cleared cell is orange, got ${r},${g},${b}`);
    // A cell with a few small ranges is tinted, not background.
    assert.notDeepEqual(await pixelAt(TiB / 2), UNCHANGED);

    const record = await host();
    assert.deepEqual(record.csp, [], 'no Content-Security-Policy violations');
    assert.deepEqual(record.dropped, [], 'every message the webview sent was valid');
    assert.equal(record.sent[0]?.type, 'ready', 'the webview starts with the ready handshake');
    assert.ok(!record.sent.some((m) => m.type === 'bin' && (m.bins ?? 0) > 200_000), 'bins stay near the canvas size');
  });

  void test('summary panel shows the host numbers, exactly, for screen readers too', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    const { summary } = await host();
    const value = (id: string) => page.getAttribute(`#summary-${id}`, 'data-value');
    assert.equal(Number(await value('changed')), summary.changedBytes);
    assert.equal(Number(await value('cleared')), summary.clearedBytes);
    assert.equal(Number(await value('ranges')), summary.rangeCount);
    assert.equal(Number(await value('largest')), summary.largestRangeBytes);
    assert.equal(await page.textContent('#summary-ranges'), '1,000,000');
    assert.equal(await page.getAttribute('#summary-text', 'aria-live'), 'polite');
    assert.match((await page.textContent('#summary-text')) ?? '', /1,000,000 ranges/);
    assert.ok((await page.locator('#histogram-bars .bar').count()) > 3, 'range-size histogram drawn');
  });

  void test('zoom with keyboard, buttons and wheel changes the window, down to 512-byte pages', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    const start = await view();
    await page.focus('#block-map');
    await page.keyboard.press('+');
    await settled();
    const zoomed = await view();
    assert.ok(zoomed.bytesPerCell < start.bytesPerCell, 'keyboard + zooms in');
    assert.ok(zoomed.length < start.length);

    await page.click('#zoom-out');
    await settled();
    assert.equal((await view()).bytesPerCell, start.bytesPerCell, 'the zoom-out button goes back');

    await hoverOffset(TiB + 1000 * 2 ** 20);
    await page.mouse.wheel(0, -100);
    await settled();
    const wheeled = await view();
    assert.ok(wheeled.bytesPerCell < start.bytesPerCell, 'wheel up zooms in');
    const anchor = TiB + 1000 * 2 ** 20;
    assert.ok(anchor >= wheeled.offset && anchor < wheeled.offset + wheeled.length, 'the byte under the pointer stays in view');

    await page.focus('#block-map');
    for (let i = 0; i < 40 && (await view()).bytesPerCell > 512; i++) {
      await page.keyboard.press('+');
      await settled();
    }
    const finest = await view();
    assert.equal(finest.bytesPerCell, 512, 'zooms down to one 512-byte page per cell');
    assert.equal(await page.isDisabled('#zoom-in'), true);
    assert.equal(finest.offset % 512, 0);

    await page.keyboard.press('0');
    await settled();
    assert.equal((await view()).offset, 0, '0 shows the whole disk again');
  });

  void test('hover shows the cell offsets in hex and human units, then its ranges', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    const { landmarks } = await host();
    const target = landmarks.fullyChanged.offset + landmarks.fullyChanged.length / 2;
    await hoverOffset(target);
    const v = await view();
    const cellStart = v.offset + (await cellFor(target)) * v.bytesPerCell;
    await page.waitForSelector('#tooltip:not([hidden])');
    const offsets = (await page.textContent('#tooltip-offsets')) ?? '';
    assert.ok(offsets.includes(`0x${cellStart.toString(16).toUpperCase()}`), `${offsets} names the cell start in hex`);
    assert.match(offsets, /TiB/);
    await page.waitForSelector('#tooltip-ranges li');
    assert.match((await page.textContent('#tooltip-ranges')) ?? '', /changed 0x10000000000 – 0x10FFFFFFFFF, 64 GiB/);
    assert.match((await page.textContent('#tooltip-fraction')) ?? '', /100(\.0)?% changed/);
  });

  void test('keyboard moves the cell cursor, pans past the edge and selects with Enter', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.focus('#block-map');
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    await settled();
    await page.keyboard.press('Home');
    await settled();
    const top = await view();
    assert.equal(top.offset, 0);
    await page.keyboard.press('ArrowRight');
    assert.match((await page.textContent('#cursor-info')) ?? '', new RegExp(`^0x${top.bytesPerCell.toString(16).toUpperCase()} `));
    for (let i = 0; i < top.rows; i++) await page.keyboard.press('ArrowDown');
    await settled();
    const panned = await view();
    assert.equal(panned.offset, top.cols * top.bytesPerCell, 'moving below the last row scrolls by one row');

    await page.keyboard.press('Enter');
    await page.waitForSelector('#selection-ranges li');
    assert.ok((await page.locator('#selection-ranges li').count()) > 0);
    const selected = await host();
    assert.ok(
      selected.sent.some((m) => m.type === 'cellRanges'),
      'ranges are asked of the host',
    );

    await page.keyboard.press('PageDown');
    await settled();
    assert.ok((await view()).offset > panned.offset, 'PageDown pans forward');
  });

  void test('drag pans the map', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.focus('#block-map');
    for (let i = 0; i < 3; i++) await page.keyboard.press('+');
    await settled();
    const before = await view();
    const box = await page.locator('#block-map').boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2 - 10 * before.cellPx, { steps: 5 });
    await page.mouse.up();
    await settled();
    const after = await view();
    assert.equal(after.offset - before.offset, 10 * before.cols * before.bytesPerCell, 'dragging up by 10 rows shows 10 rows further on');
  });

  void test('export, copy summary and choosing a family pair send requests to the host', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.click('#export-csv');
    await page.locator('#status', { hasText: 'Exported' }).waitFor();
    await page.click('#export-json');
    await page.click('#copy-summary');
    await page.locator('#status', { hasText: 'copied' }).waitFor();
    await page.click('#family-bars .bar[data-index="2"]');
    await page.locator('#map-title', { hasText: 'snap-2 → snap-3' }).waitFor();
    await settled();
    const record = await host();
    const exports = record.sent.filter((m) => m.type === 'export').map((m) => m.format);
    assert.deepEqual(exports, ['csv', 'json']);
    assert.ok(record.sent.some((m) => m.type === 'copySummary'));
    assert.ok(record.sent.some((m) => m.type === 'selectPair' && m.index === 2));
    assert.equal(record.state?.restoreKey, 'pair-2', 'the chosen pair is kept for restore');
  });

  void test('the view survives a reload through setState', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.focus('#block-map');
    for (let i = 0; i < 5; i++) await page.keyboard.press('+');
    await page.keyboard.press('PageDown');
    await settled();
    const before = await view();
    await page.reload();
    await page.waitForSelector('#block-map[data-painted="1"]');
    await settled();
    const after = await view();
    assert.equal(after.offset, before.offset);
    assert.equal(after.bytesPerCell, before.bytesPerCell);
  });

  void test('malformed messages from the host are dropped without breaking the map', async (t) => {
    t.after(() => page.context().close());
    const warnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'warning') warnings.push(m.text());
    });
    await openMap();
    await page.evaluate(() => {
      const window = globalThis as unknown as { postMessage(message: unknown, origin: string): void };
      window.postMessage({ type: 'bins', requestId: 1, window: { offset: 0, length: 10 }, bins: 4, changed: 'nope', cleared: null }, '*');
      window.postMessage({ type: 'summary', summary: { changedBytes: -1 } }, '*');
      window.postMessage({ type: 'launchMissiles' }, '*');
    });
    await page.focus('#block-map');
    await page.keyboard.press('+');
    await settled();
    assert.equal(warnings.filter((w) => w.includes('dropped')).length, 3);
    assert.equal(Number(await page.getAttribute('#summary-ranges', 'data-value')), 1_000_000, 'summary untouched');
  });
});
