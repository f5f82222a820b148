/** The panel's static structure and styles. Ids are stable: tests and the e2e suite query them. */

const STYLES = `
:root { color-scheme: light dark; }
body { margin: 0; padding: 0; color: var(--vscode-foreground); background: var(--vscode-editor-background);
  font-family: var(--vscode-font-family); font-size: var(--vscode-font-size, 13px); }
.sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); border: 0; }
#app { display: flex; flex-direction: column; height: 100vh; box-sizing: border-box; padding: 8px 12px; gap: 8px; }
#toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
#map-title { font-size: 1.1em; font-weight: 600; margin: 0 12px 0 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 40vw; }
button { font: inherit; color: var(--vscode-button-secondaryForeground, var(--vscode-foreground));
  background: var(--vscode-button-secondaryBackground, transparent); border: 1px solid var(--vscode-button-border, transparent);
  border-radius: 2px; padding: 2px 8px; cursor: pointer; }
button:hover { background: var(--vscode-button-secondaryHoverBackground, var(--vscode-toolbar-hoverBackground)); }
button:focus-visible, canvas:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: 1px; }
button:disabled { opacity: 0.5; cursor: default; }
.spacer { flex: 1; }
#zoom-level, #window-info, #status { color: var(--vscode-descriptionForeground); }
/* Reserve their line so that text arriving later never resizes the map (and re-bins it). */
#window-info, #status { min-height: 1.4em; line-height: 1.4em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#status.error { color: var(--vscode-errorForeground); }
#main { display: flex; gap: 12px; flex: 1; min-height: 0; }
#map-area { flex: 1; display: flex; flex-direction: column; min-width: 0; gap: 6px; }
#map-container { flex: 1; position: relative; min-height: 120px; overflow: hidden; touch-action: none; }
#block-map { display: block; cursor: crosshair; }
#block-map.dragging { cursor: grabbing; }
#tooltip { position: absolute; z-index: 2; pointer-events: none; max-width: 420px; padding: 6px 8px;
  background: var(--vscode-editorHoverWidget-background, var(--vscode-editorWidget-background));
  color: var(--vscode-editorHoverWidget-foreground, var(--vscode-foreground));
  border: 1px solid var(--vscode-editorHoverWidget-border, var(--vscode-widget-border, transparent)); font-size: 0.92em; }
#tooltip ul, #selection-ranges { margin: 4px 0 0; padding-left: 16px; font-family: var(--vscode-editor-font-family, monospace); }
#legend { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin-right: 4px; border: 1px solid var(--vscode-editorWidget-border, #888); }
.swatch.changed { background: var(--vscode-charts-blue); }
.swatch.changed-low { background: color-mix(in srgb, var(--vscode-charts-blue) 30%, var(--vscode-editor-background)); }
.swatch.cleared { background: repeating-linear-gradient(45deg, var(--vscode-charts-orange) 0 3px, color-mix(in srgb, var(--vscode-charts-orange) 45%, var(--vscode-editor-background)) 3px 5px); }
.swatch.unchanged { background: var(--vscode-editor-background); }
#side { width: 300px; flex: none; overflow-y: auto; display: flex; flex-direction: column; gap: 12px; }
#side h2 { font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.04em; margin: 0 0 4px; color: var(--vscode-descriptionForeground); }
#summary dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0; }
#summary dt { color: var(--vscode-descriptionForeground); }
#summary dd { margin: 0; font-variant-numeric: tabular-nums; }
.chart { display: flex; align-items: flex-end; gap: 2px; height: 90px; border-bottom: 1px solid var(--vscode-editorWidget-border, #888); }
.chart .bar { flex: 1; min-width: 3px; background: var(--vscode-charts-blue); position: relative; }
#family-bars .bar { border: 0; padding: 0; border-radius: 0; background: var(--vscode-charts-purple, var(--vscode-charts-blue)); opacity: 0.65; }
#family-bars .bar[aria-pressed="true"] { opacity: 1; outline: 2px solid var(--vscode-focusBorder); }
#family-bars .bar:hover { opacity: 0.9; }
.chart-axis { display: flex; justify-content: space-between; font-size: 0.85em; color: var(--vscode-descriptionForeground); }
#files-filter { width: 100%; box-sizing: border-box; font: inherit; color: var(--vscode-input-foreground); background: var(--vscode-input-background);
  border: 1px solid var(--vscode-input-border, transparent); padding: 2px 4px; }
#files-filter:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
#files-status { color: var(--vscode-descriptionForeground); margin: 4px 0; }
#files-status.error { color: var(--vscode-errorForeground); }
#files-list { list-style: none; margin: 0; padding: 0; max-height: 40vh; overflow-y: auto; }
#files-list button.file { position: relative; display: flex; gap: 6px; width: 100%; text-align: left; padding: 1px 4px; border-radius: 0;
  background: transparent; border: 1px solid transparent; color: var(--vscode-foreground); }
#files-list button.file:hover { background: var(--vscode-list-hoverBackground); }
#files-list button.file[aria-pressed="true"] { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground, var(--vscode-foreground));
  border-color: var(--vscode-charts-yellow); }
#files-list button.file:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
.file-bar { position: absolute; left: 0; bottom: 0; height: 3px; background: var(--vscode-charts-blue); }
.file-path { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; direction: rtl; text-align: left; }
.file-change, .file-bytes { flex: none; color: var(--vscode-descriptionForeground); font-size: 0.9em; }
.change-added { color: var(--vscode-charts-green, var(--vscode-descriptionForeground)); }
.change-deleted { color: var(--vscode-charts-red, var(--vscode-descriptionForeground)); }
.swatch.file-lit { background: var(--vscode-charts-yellow); }
#tooltip-files { margin: 4px 0 0; padding-left: 16px; }
#selection-ranges li.cleared::marker { color: var(--vscode-charts-orange); }
@media (prefers-reduced-motion: no-preference) {
  .chart .bar { transition: height 120ms ease-out; }
  #tooltip { transition: opacity 80ms; }
}
`;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function by<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`block map: #${id} missing`);
  return node as T;
}

/** The nonce the host gave our script; styles need it too under the panel's CSP. */
function scriptNonce(): string {
  const own = document.currentScript as HTMLScriptElement | null;
  return own?.nonce || (document.querySelector('script[nonce]') as HTMLScriptElement | null)?.nonce || '';
}

const SUMMARY_ROWS: ReadonlyArray<[string, string]> = [
  ['changed', 'Changed'],
  ['cleared', 'Cleared'],
  ['ranges', 'Ranges'],
  ['largest', 'Largest range'],
  ['share', 'Share of disk'],
  ['disk', 'Disk size'],
  ['used', 'Snapshot used size'],
  ['cost', 'Estimated cost'],
];

export function buildPanel(nonce = scriptNonce()): void {
  const style = el('style');
  if (nonce) style.nonce = nonce;
  style.textContent = STYLES;
  document.head.append(style);

  const summaryRows = SUMMARY_ROWS.map(
    ([id, label]) => `<dt id="summary-${id}-label">${label}</dt><dd id="summary-${id}" aria-labelledby="summary-${id}-label">…</dd>`,
  ).join('');
  // Static markup only: every dynamic value below is set with textContent.
  document.body.innerHTML = `
<div id="app">
  <div id="toolbar" role="toolbar" aria-label="Block map">
    <h1 id="map-title">Changed-block map</h1>
    <button id="zoom-out" title="Zoom out (-)" aria-label="Zoom out">−</button>
    <button id="zoom-in" title="Zoom in (+)" aria-label="Zoom in">+</button>
    <button id="zoom-fit" title="Show the whole disk (0)" aria-label="Show the whole disk">Whole disk</button>
    <span id="zoom-level" aria-live="polite"></span>
    <span class="spacer"></span>
    <button id="export-json" title="Export the changed ranges as JSON">Export JSON</button>
    <button id="export-csv" title="Export the changed ranges as CSV">Export CSV</button>
    <button id="copy-summary" title="Copy the summary to the clipboard">Copy summary</button>
  </div>
  <div id="main">
    <div id="map-area">
      <div id="map-container">
        <canvas id="block-map" tabindex="0" role="application" aria-roledescription="changed-block map"
          aria-label="Changed-block map. Arrow keys move between cells, plus and minus zoom, Enter selects a cell." aria-describedby="cursor-info"></canvas>
        <div id="tooltip" role="tooltip" hidden></div>
      </div>
      <div id="legend" aria-label="Legend">
        <span><span class="swatch changed"></span>Changed (stronger: more of the cell)</span>
        <span><span class="swatch changed-low"></span>A little changed</span>
        <span><span class="swatch cleared"></span>Cleared</span>
        <span><span class="swatch unchanged"></span>Unchanged</span>
        <span id="legend-file" hidden><span class="swatch file-lit"></span><span id="legend-file-text">Selected file's changed blocks</span></span>
      </div>
      <div id="window-info"></div>
      <div id="cursor-info" class="sr-only" aria-live="polite"></div>
    </div>
    <div id="side">
      <section id="summary" aria-labelledby="summary-heading">
        <h2 id="summary-heading">Summary</h2>
        <dl>${summaryRows}</dl>
        <p id="summary-text" class="sr-only" aria-live="polite"></p>
      </section>
      <section id="files" aria-labelledby="files-heading" hidden>
        <h2 id="files-heading">Changed files</h2>
        <label for="files-filter" class="sr-only">Filter changed files by path</label>
        <input id="files-filter" type="search" placeholder="Filter by path" autocomplete="off" spellcheck="false">
        <div id="files-status" role="status" aria-live="polite"></div>
        <ul id="files-list" aria-label="Changed files and directories, largest change first"></ul>
      </section>
      <section id="selection" aria-labelledby="selection-heading">
        <h2 id="selection-heading">Selected cell</h2>
        <div id="selection-offsets">Click a cell (or press Enter) to list its ranges.</div>
        <ol id="selection-ranges" aria-label="Ranges in the selected cell"></ol>
        <div id="selection-more"></div>
      </section>
      <section id="histogram" aria-labelledby="histogram-heading">
        <h2 id="histogram-heading">Range sizes</h2>
        <div id="histogram-bars" class="chart" role="list" aria-label="Number of ranges by size"></div>
        <div class="chart-axis"><span id="histogram-min"></span><span id="histogram-max"></span></div>
      </section>
      <section id="family" aria-labelledby="family-heading" hidden>
        <h2 id="family-heading">Changes per snapshot</h2>
        <div id="family-bars" class="chart" role="group" aria-label="Changed bytes per snapshot; choose a bar to map that pair"></div>
        <div class="chart-axis"><span id="family-first"></span><span id="family-last"></span></div>
      </section>
    </div>
  </div>
  <div id="status" role="status" aria-live="polite"></div>
</div>`;
}

export const dom = {
  get title() {
    return by<HTMLHeadingElement>('map-title');
  },
  get canvas() {
    return by<HTMLCanvasElement>('block-map');
  },
  get container() {
    return by<HTMLDivElement>('map-container');
  },
  get tooltip() {
    return by<HTMLDivElement>('tooltip');
  },
  get zoomLevel() {
    return by<HTMLSpanElement>('zoom-level');
  },
  get windowInfo() {
    return by<HTMLDivElement>('window-info');
  },
  get cursorInfo() {
    return by<HTMLDivElement>('cursor-info');
  },
  get status() {
    return by<HTMLDivElement>('status');
  },
  summary(id: string) {
    return by<HTMLElement>(`summary-${id}`);
  },
  get summaryText() {
    return by<HTMLParagraphElement>('summary-text');
  },
  get selectionOffsets() {
    return by<HTMLDivElement>('selection-offsets');
  },
  get selectionRanges() {
    return by<HTMLOListElement>('selection-ranges');
  },
  get selectionMore() {
    return by<HTMLDivElement>('selection-more');
  },
  get histogram() {
    return by<HTMLDivElement>('histogram-bars');
  },
  get family() {
    return by<HTMLElement>('family');
  },
  get familyBars() {
    return by<HTMLDivElement>('family-bars');
  },
  get files() {
    return by<HTMLElement>('files');
  },
  get filesFilter() {
    return by<HTMLInputElement>('files-filter');
  },
  get filesStatus() {
    return by<HTMLDivElement>('files-status');
  },
  get filesList() {
    return by<HTMLUListElement>('files-list');
  },
  get legendFile() {
    return by<HTMLElement>('legend-file');
  },
  button(id: 'zoom-in' | 'zoom-out' | 'zoom-fit' | 'export-json' | 'export-csv' | 'copy-summary') {
    return by<HTMLButtonElement>(id);
  },
  text(id: string) {
    return by<HTMLElement>(id);
  },
};
