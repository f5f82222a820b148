/** Paints the map on a canvas: one pixel per cell into a small image, scaled up without smoothing. */
import { cellCount, type MapView } from './view';

export interface Rgb {
  readonly r: number;
  readonly g: number;
  readonly b: number;
}

export interface MapColours {
  readonly changed: Rgb;
  readonly cleared: Rgb;
  readonly unchanged: Rgb;
  readonly grid: Rgb;
  readonly focus: Rgb;
  readonly foreground: Rgb;
  /** The selected file's blocks. */
  readonly file: Rgb;
}

const probe = document.createElement('canvas').getContext('2d');

/** Any CSS colour -> rgb, via the canvas's own parser; `fallback` when the value is empty or invalid. */
export function parseColour(value: string, fallback: Rgb): Rgb {
  if (!probe || !value.trim()) return fallback;
  probe.fillStyle = '#010203';
  probe.fillStyle = value.trim();
  const parsed = String(probe.fillStyle);
  if (parsed === '#010203' && value.trim() !== '#010203') return fallback;
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(parsed);
  if (hex) return { r: parseInt(hex[1]!, 16), g: parseInt(hex[2]!, 16), b: parseInt(hex[3]!, 16) };
  const rgba = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(parsed);
  if (rgba) return { r: Number(rgba[1]), g: Number(rgba[2]), b: Number(rgba[3]) };
  return fallback;
}

/** Reads the theme's colours from VS Code's CSS variables (they change with the theme). */
export function themeColours(): MapColours {
  const style = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: Rgb) => parseColour(style.getPropertyValue(name), fallback);
  const unchanged = v('--vscode-editor-background', { r: 30, g: 30, b: 30 });
  return {
    changed: v('--vscode-charts-blue', { r: 55, g: 148, b: 255 }),
    cleared: v('--vscode-charts-orange', { r: 209, g: 134, b: 22 }),
    unchanged,
    grid: parseColour(style.getPropertyValue('--vscode-editorWidget-border') || style.getPropertyValue('--vscode-panel-border'), { r: 69, g: 69, b: 69 }),
    focus: v('--vscode-focusBorder', { r: 0, g: 127, b: 212 }),
    foreground: v('--vscode-foreground', { r: 204, g: 204, b: 204 }),
    file: v('--vscode-charts-yellow', { r: 204, g: 167, b: 0 }),
  };
}

export function css(c: Rgb, alpha = 1): string {
  return alpha === 1 ? `rgb(${c.r}, ${c.g}, ${c.b})` : `rgba(${c.r}, ${c.g}, ${c.b}, ${alpha})`;
}

/** How strongly a fraction shows: any change at all is clearly visible, a full cell is the pure colour. */
export function intensity(fraction: number): number {
  if (fraction <= 0) return 0;
  // Logarithmic from 1/10,000 of a cell to all of it: a few pages in a huge cell still show.
  const t = Math.min(1, Math.max(0, (Math.log10(fraction) + 4) / 4));
  return 0.3 + 0.7 * t;
}

function mix(a: Rgb, b: Rgb, t: number): number {
  const r = Math.round(a.r + (b.r - a.r) * t);
  const g = Math.round(a.g + (b.g - a.g) * t);
  const bl = Math.round(a.b + (b.b - a.b) * t);
  // ImageData is RGBA in memory: little-endian Uint32 is 0xAABBGGRR.
  return (0xff << 24) | (bl << 16) | (g << 8) | r;
}

export interface MapMarks {
  readonly hover?: number;
  readonly cursor?: number;
  readonly selected?: number;
  readonly showCursor: boolean;
  /** Cells holding the selected file's changed bytes (1 = lit), painted in the file colour. */
  readonly lit?: Uint8Array;
}

export class MapRenderer {
  readonly #small = document.createElement('canvas');
  #pattern: CanvasPattern | null = null;
  #patternFor = '';

  constructor(readonly canvas: HTMLCanvasElement) {}

  /** Device pixels per cell edge for a CSS cell size. */
  static cellDevicePx(cellCssPx: number): number {
    return Math.max(1, Math.round(cellCssPx * (window.devicePixelRatio || 1)));
  }

  resize(view: MapView, cellCssPx: number): void {
    const px = MapRenderer.cellDevicePx(cellCssPx);
    const w = view.cols * px;
    const h = view.rows * px;
    if (this.canvas.width !== w) this.canvas.width = w;
    if (this.canvas.height !== h) this.canvas.height = h;
    this.canvas.style.width = `${(view.cols * px) / (window.devicePixelRatio || 1)}px`;
    this.canvas.style.height = `${(view.rows * px) / (window.devicePixelRatio || 1)}px`;
  }

  #hatch(ctx: CanvasRenderingContext2D, colours: MapColours): CanvasPattern | null {
    const key = css(colours.unchanged);
    if (this.#pattern && this.#patternFor === key) return this.#pattern;
    const tile = document.createElement('canvas');
    tile.width = 6;
    tile.height = 6;
    const t = tile.getContext('2d');
    if (!t) return null;
    t.strokeStyle = css(colours.unchanged, 0.55);
    t.lineWidth = 1.5;
    t.beginPath();
    t.moveTo(0, 6);
    t.lineTo(6, 0);
    t.stroke();
    this.#pattern = ctx.createPattern(tile, 'repeat');
    this.#patternFor = key;
    return this.#pattern;
  }

  paint(view: MapView, changed: Float32Array, cleared: Float32Array, colours: MapColours, cellCssPx: number, marks: MapMarks): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const px = MapRenderer.cellDevicePx(cellCssPx);
    const { cols, rows } = view;
    const cells = cellCount(view);
    this.#small.width = cols;
    this.#small.height = rows;
    const sctx = this.#small.getContext('2d');
    if (!sctx) return;
    const image = sctx.createImageData(cols, rows);
    const pixels = new Uint32Array(image.data.buffer);
    const unchanged = mix(colours.unchanged, colours.unchanged, 0);
    const pending = mix(colours.unchanged, colours.grid, 0.35);
    const litColour = mix(colours.file, colours.file, 0);
    const hatched: number[] = [];
    const diskCells = Math.ceil((view.diskSizeBytes - view.offset) / view.bytesPerCell);
    for (let i = 0; i < cells; i++) {
      if (i >= diskCells) {
        pixels[i] = 0;
        continue;
      }
      const c = changed[i] ?? 0;
      const x = cleared[i] ?? 0;
      if (Number.isNaN(c) || Number.isNaN(x)) pixels[i] = pending;
      else if (x > 0 && x >= c) {
        pixels[i] = mix(colours.unchanged, colours.cleared, intensity(x));
        hatched.push(i);
      } else if (c > 0) pixels[i] = mix(colours.unchanged, colours.changed, intensity(c));
      else pixels[i] = unchanged;
      if (marks.lit?.[i]) pixels[i] = litColour;
    }
    sctx.putImageData(image, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.#small, 0, 0, cols * px, rows * px);

    const pattern = hatched.length ? this.#hatch(ctx, colours) : null;
    if (pattern) {
      ctx.fillStyle = pattern;
      for (const i of hatched) if (!marks.lit?.[i]) ctx.fillRect((i % cols) * px, Math.floor(i / cols) * px, px, px);
    }
    if (px >= 5) {
      // One device pixel of grid between cells, so neighbouring cells of equal colour stay countable.
      ctx.fillStyle = css(colours.grid, 0.6);
      for (let c = 1; c < cols; c++) ctx.fillRect(c * px, 0, 1, rows * px);
      for (let r = 1; r < rows; r++) ctx.fillRect(0, r * px, cols * px, 1);
    }
    const ring = (cell: number | undefined, colour: string, width: number, dashed: boolean) => {
      if (cell === undefined || cell < 0 || cell >= cells) return;
      ctx.save();
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.setLineDash(dashed ? [2, 2] : []);
      ctx.strokeRect((cell % cols) * px + width / 2, Math.floor(cell / cols) * px + width / 2, px - width, px - width);
      ctx.restore();
    };
    const w = Math.max(1, Math.round(px / 5));
    ring(marks.hover, css(colours.foreground, 0.8), Math.max(1, w - 1), false);
    ring(marks.selected, css(colours.focus), w, false);
    if (marks.showCursor) ring(marks.cursor, css(colours.foreground), w, true);
  }
}
