import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cellBytes, cellCount, clampOffset, fitView, isFit, panCells, relayout, resample, windowOf, zoom, type MapView } from '../../webview/view';

const TiB = 2 ** 40;

const arbView = fc
  .record({
    diskPages: fc.integer({ min: 1, max: (32 * TiB) / 512 }),
    cols: fc.integer({ min: 8, max: 300 }),
    rows: fc.integer({ min: 8, max: 200 }),
    zoomIns: fc.integer({ min: 0, max: 40 }),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ diskPages, cols, rows, zoomIns, at }) => {
    let v = fitView(diskPages * 512, cols, rows);
    for (let i = 0; i < zoomIns; i++) v = zoom(v, 0.5, Math.floor(at * (cellCount(v) - 1)));
    return v;
  });

function assertWellFormed(v: MapView): void {
  assert.equal(v.bytesPerCell % 512, 0, 'cells are whole pages');
  assert.ok(v.bytesPerCell >= 512);
  assert.equal(v.offset % v.bytesPerCell, 0, 'the window starts on the cell grid');
  assert.ok(v.offset >= 0);
  assert.ok(v.offset < v.diskSizeBytes, 'the window starts inside the disk');
}

void describe('block map view (zoom and pan over the address space)', () => {
  void it('fits a 4 TiB disk on one screen, then zooms to 512-byte pages', () => {
    let v = fitView(4 * TiB, 118, 85);
    assert.ok(windowOf(v).length >= 4 * TiB);
    assert.ok(isFit(v));
    for (let i = 0; i < 40; i++) v = zoom(v, 0.5, 0);
    assert.equal(v.bytesPerCell, 512);
    assert.equal(zoom(v, 0.5, 0), v, 'no zooming past one page per cell');
    for (let i = 0; i < 40; i++) v = zoom(v, 2, 0);
    assert.ok(isFit(v));
    assert.equal(v.offset, 0);
  });

  void it('keeps every view on the page grid and inside the disk', () => {
    fc.assert(fc.property(arbView, (v) => assertWellFormed(v)));
  });

  void it('keeps the byte under the anchor cell within one cell of it when zooming in', () => {
    fc.assert(
      fc.property(arbView, fc.double({ min: 0, max: 1, noNaN: true }), (v, at) => {
        const anchorCell = Math.floor(at * (cellCount(v) - 1));
        const anchorByte = v.offset + anchorCell * v.bytesPerCell + v.bytesPerCell / 2;
        const z = zoom(v, 0.5, anchorCell);
        assertWellFormed(z);
        const w = windowOf(z);
        if (z.offset > 0 && z.offset < clampOffset(z, Number.MAX_SAFE_INTEGER)) {
          assert.ok(Math.abs(z.offset + anchorCell * z.bytesPerCell - anchorByte) <= 2 * z.bytesPerCell);
        } else {
          assert.ok(anchorByte >= w.offset || z.offset === 0);
        }
      }),
    );
  });

  void it('pans by whole cells and stops at both ends of the disk', () => {
    const v = zoom(zoom(fitView(4 * TiB, 100, 100), 0.25, 0), 0.25, 0);
    assert.equal(panCells(v, -5).offset, 0);
    const down = panCells(v, 100);
    assert.equal(down.offset - v.offset, 100 * v.bytesPerCell);
    const end = panCells(v, Number.MAX_SAFE_INTEGER / v.bytesPerCell);
    assert.ok(end.offset + windowOf(end).length >= 4 * TiB, 'the last cells reach the end of the disk');
    assert.equal(cellBytes(end, cellCount(end) - 1)?.offset, end.offset + (cellCount(end) - 1) * end.bytesPerCell);
  });

  void it('clips the last cell to the disk and has no cells past its end', () => {
    const v = fitView(995 * 512, 12, 10);
    assert.equal(v.bytesPerCell, 9 * 512);
    assert.deepEqual(cellBytes(v, 110), { offset: 110 * 9 * 512, length: 5 * 512 });
    assert.equal(cellBytes(v, 111), undefined);
  });

  void it('relayouts to a new grid keeping the place and the zoom', () => {
    const v = panCells(zoom(fitView(4 * TiB, 100, 100), 1 / 64, 0), 5000);
    const r = relayout(v, 120, 80);
    assert.equal(r.bytesPerCell, v.bytesPerCell);
    assert.equal(r.offset, v.offset);
    assert.equal(cellCount(r), 9600);
  });

  void it('previews a zoom from the bins on screen: halves keep their value, unknown cells are NaN', () => {
    const v = fitView(8 * 4096, 4, 2);
    assert.equal(v.bytesPerCell, 4096);
    const values = new Float32Array([1, 0, 0.5, 0, 0, 0, 0, 0.25]);
    const zoomedIn = { ...v, bytesPerCell: 2048, offset: 0 };
    assert.deepEqual([...resample(v, values, zoomedIn)], [1, 1, 0, 0, 0.5, 0.5, 0, 0]);
    const panned = { ...v, offset: 4 * 4096 };
    const moved = resample(v, values, panned);
    assert.deepEqual([...moved.slice(0, 4)], [0, 0, 0, 0.25]);
    assert.ok(moved.slice(4).every(Number.isNaN));
    const zoomedOut = { ...v, bytesPerCell: 8192, offset: 0 };
    assert.deepEqual([...resample(v, values, zoomedOut)].slice(0, 4), [0.5, 0.25, 0, 0.125]);
  });
});
