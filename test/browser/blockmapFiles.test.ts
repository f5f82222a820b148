/**
 * The block map's Files panel in Chromium, behind the host stand-in (test/browser/blockmapHost.page.ts),
 * which sends a file list placed on known landmarks of the fixture after the map's first bins.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../scripts/ensure-chromium.mjs';
import type { Prepare, Probe, Window } from './probe';

interface HostRecord {
  sent: { type: string }[];
  state: { fileFilter?: string; selectedFile?: string } | null;
  landmarks: { fullyChanged: Window; fullyCleared: Window };
  files: { path: string; changedBytes: number }[];
}
type PageGlobals = { blockMapProbe: Probe; blockMapHost: HostRecord };

const GiB = 2 ** 30;
/** --vscode-charts-yellow of the test theme (test/browser/prepare.mjs). */
const LIT: [number, number, number] = [0xcc, 0xa7, 0x00];

let browser: Browser;
let url: string;
let page: Page;

const host = (): Promise<HostRecord> => page.evaluate(() => structuredClone((globalThis as unknown as PageGlobals).blockMapHost));

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

async function openMap(hash = ''): Promise<void> {
  await page.goto(url + hash);
  await page.waitForSelector('#block-map[data-painted="1"]', { timeout: 20_000 });
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).blockMapProbe.settled(), undefined, { timeout: 10_000 });
}

async function listedPaths(): Promise<string[]> {
  return page.locator('#files-list li').evaluateAll((items) => items.map((li) => li.getAttribute('data-path') ?? ''));
}

void describe('block map Files panel', { timeout: 180_000 }, () => {
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

  void test('lists the changed files largest first, with bars, kinds and screen-reader labels; the filter narrows by path', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.waitForSelector('#files[data-state="ready"] #files-list li');
    const record = await host();
    const expected = [...record.files].sort((a, b) => b.changedBytes - a.changedBytes || (a.path < b.path ? -1 : 1)).map((f) => f.path);
    assert.deepEqual(await listedPaths(), expected);
    assert.deepEqual(expected.slice(0, 2), ['/var/log/big.log', '/srv/data/old.db']);
    const widths = await page.locator('#files-list .file-bar').evaluateAll((bars) => bars.map((b) => b.getBoundingClientRect().width));
    assert.ok(widths[0]! > widths[1]! && widths[1]! > widths[2]!, `bars shrink with changed bytes: ${widths.join(', ')}`);
    const label = (await page.locator('#files-list li[data-path="/srv/data/old.db"] button').getAttribute('aria-label')) ?? '';
    assert.match(label, /^File \/srv\/data\/old\.db: deleted, 30 GiB changed, partition 1\./);
    assert.match((await page.locator('#files-list li[data-path="/etc"] button').getAttribute('aria-label')) ?? '', /^Directory \/etc: metadata only/);
    assert.match((await page.textContent('#files-status')) ?? '', /5 changed files and directories/);

    await page.fill('#files-filter', 'ETC');
    assert.deepEqual(await listedPaths(), ['/etc/nginx/nginx.conf', '/etc'], 'case-insensitive substring on the path, still ranked');
    assert.match((await page.textContent('#files-status')) ?? '', /2 matching "ETC" of 5/);
    await page.fill('#files-filter', 'nothing-like-this');
    assert.deepEqual(await listedPaths(), []);
    await page.fill('#files-filter', '');
    assert.equal((await listedPaths()).length, 5);
  });

  void test('hovering a map cell names the files whose changed extents lie in it', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.waitForSelector('#files[data-state="ready"]');
    const { landmarks } = await host();
    await hoverOffset(landmarks.fullyChanged.offset);
    await page.waitForSelector('#tooltip:not([hidden]) #tooltip-files li');
    assert.deepEqual(await page.locator('#tooltip-files li').evaluateAll((l) => l.map((x) => x.getAttribute('data-path'))), ['/var/log/big.log']);
    assert.match((await page.textContent('#tooltip-files')) ?? '', /modified, 32 GiB/);
    await hoverOffset(landmarks.fullyChanged.offset + 48 * GiB);
    await page.locator('#tooltip-files li', { hasText: 'nginx.conf' }).waitFor();
    assert.deepEqual(await page.locator('#tooltip-files li').evaluateAll((l) => l.map((x) => x.getAttribute('data-path'))), ['/etc/nginx/nginx.conf']);
    await hoverOffset(landmarks.fullyChanged.offset + 60 * GiB);
    await page.locator('#tooltip-fraction').waitFor();
    assert.equal(await page.locator('#tooltip-files').count(), 0, 'a changed cell no file holds names no file');
  });

  void test('selecting a file lights its blocks in the theme colour; clicking again or Escape clears; the choice survives a reload', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.waitForSelector('#files[data-state="ready"]');
    const { landmarks } = await host();
    const inOld = landmarks.fullyCleared.offset + GiB;
    const inBig = landmarks.fullyChanged.offset + GiB;
    assert.notDeepEqual(await pixelAt(inOld), LIT, 'nothing is lit before a file is chosen');
    assert.equal(await page.isHidden('#legend-file'), true);

    const row = page.locator('#files-list li[data-path="/srv/data/old.db"] button');
    await row.click();
    await page.waitForSelector('#files-list li[data-path="/srv/data/old.db"] button[aria-pressed="true"]');
    assert.deepEqual(await pixelAt(inOld), LIT, "the file's cells are painted in the file colour");
    assert.notDeepEqual(await pixelAt(inBig), LIT, "another file's cells are not");
    assert.equal(await page.isVisible('#legend-file'), true, 'the legend names the lit file');
    assert.match((await page.textContent('#legend-file')) ?? '', /\/srv\/data\/old\.db/);
    assert.ok(Number(await page.getAttribute('#block-map', 'data-lit-cells')) > 0);

    await page.locator('#files-list li[data-path="/srv/data/old.db"] button').click();
    await page.waitForSelector('#files-list li[data-path="/srv/data/old.db"] button[aria-pressed="false"]');
    assert.notDeepEqual(await pixelAt(inOld), LIT, 'clicking again clears');
    assert.equal(await page.getAttribute('#block-map', 'data-lit-cells'), '0');

    // Keyboard: Tab to the row, Enter lights it, Escape clears.
    await page.locator('#files-list li[data-path="/var/log/big.log"] button').focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#files-list li[data-path="/var/log/big.log"] button[aria-pressed="true"]');
    assert.deepEqual(await pixelAt(inBig), LIT);
    await page.keyboard.press('Escape');
    await page.locator('#block-map[data-lit-cells="0"]').waitFor();
    assert.notDeepEqual(await pixelAt(inBig), LIT);

    // Kept across hide/restore (setState): the filter and the lit file.
    await page.locator('#files-list li[data-path="/var/log/big.log"] button').click();
    await page.fill('#files-filter', 'log');
    const saved = (await host()).state;
    assert.equal(saved?.selectedFile, '/var/log/big.log');
    assert.equal(saved?.fileFilter, 'log');
    await page.reload();
    await page.waitForSelector('#files[data-state="ready"] #files-list li');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).blockMapProbe.settled());
    assert.equal(await page.inputValue('#files-filter'), 'log');
    assert.deepEqual(await listedPaths(), ['/var/log/big.log']);
    assert.equal(await page.getAttribute('#files-list li[data-path="/var/log/big.log"] button', 'aria-pressed'), 'true');
    assert.deepEqual(await pixelAt(inBig), LIT);
  });

  void test('an unreadable disk shows why, and the map works as before', async (t) => {
    t.after(() => page.context().close());
    await openMap('#files-unavailable');
    await page.waitForSelector('#files[data-state="unavailable"]');
    assert.match((await page.textContent('#files-status')) ?? '', /Files not available: partition 1 \(LUKS\): encrypted/);
    assert.equal(await page.isDisabled('#files-filter'), true);
    assert.equal(await page.locator('#files-list li').count(), 0);
  });

  void test('the file list is asked for nothing and arrives after the first paint', async (t) => {
    t.after(() => page.context().close());
    await openMap();
    await page.waitForSelector('#files[data-state="ready"]');
    const marks = await page.evaluate(() => performance.getEntriesByName('blockmap:first-paint', 'measure').length);
    assert.equal(marks, 1);
    const sent = (await host()).sent.map((m) => m.type);
    assert.ok(!sent.includes('files'), 'the webview never asks for files: the host pushes them');
  });
});
