/**
 * The Files panel: the pair's changed files and directories ranked by changed bytes, a path filter, and
 * the file whose blocks are lit on the map. The list comes from the host (`files`) after the map's
 * first paint; everything here works on that list alone.
 */
import type { ChangedFile } from '../src/shared/blockMapProtocol';
import { filterFiles } from '../src/shared/fileCells';
import { formatBytes } from '../src/core/format';
import { dom, el } from './dom';
import type { MapState } from './state';

/** Rows drawn at once: the filter narrows a longer list. */
const ROWS_SHOWN = 300;

const CHANGE_LABEL: Record<ChangedFile['change'], string> = {
  added: 'added',
  deleted: 'deleted',
  modified: 'modified',
  metadata: 'metadata only',
  renamed: 'renamed',
};

export function fileLabel(f: ChangedFile): string {
  const what = f.dir ? 'Directory' : 'File';
  const renamed = f.previousPath !== undefined ? ` (was ${f.previousPath})` : '';
  return `${what} ${f.path}${renamed}: ${CHANGE_LABEL[f.change]}, ${formatBytes(f.changedBytes)} changed, partition ${f.partition}`;
}

export interface FilesPanelActions {
  /** The user picked `path` (undefined: cleared the pick). */
  select(path: string | undefined): void;
  /** The filter text changed. */
  filtered(): void;
}

/** Shows the panel's state for a `files` message (or the current filter over the list already held). */
export function renderFiles(state: MapState, actions: FilesPanelActions): void {
  const m = state.files;
  dom.files.hidden = m === undefined;
  if (!m) return;
  const status = dom.filesStatus;
  dom.files.dataset.state = m.state;
  if (m.state !== 'ready') {
    status.textContent = m.state === 'computing' ? 'Naming the changed files…' : `Files not available: ${m.reason ?? 'unknown reason'}`;
    status.classList.toggle('error', m.state === 'unavailable');
    dom.filesFilter.disabled = true;
    dom.filesList.replaceChildren();
    return;
  }
  status.classList.remove('error');
  dom.filesFilter.disabled = false;
  const shown = filterFiles(m.files, state.fileFilter);
  const max = Math.max(1, ...shown.map((f) => f.changedBytes));
  const rows = shown.slice(0, ROWS_SHOWN).map((f) => fileRow(f, max, f.path === state.selectedFile, actions));
  dom.filesList.replaceChildren(...rows);
  const listed = m.total > m.files.length ? ` (the ${m.files.length.toLocaleString('en-US')} largest of ${m.total.toLocaleString('en-US')})` : '';
  const filtered = state.fileFilter.trim() ? `${shown.length.toLocaleString('en-US')} matching "${state.fileFilter.trim()}" of ` : '';
  const cut = shown.length > ROWS_SHOWN ? `; the first ${ROWS_SHOWN} are listed, filter to see others` : '';
  status.textContent =
    m.files.length === 0
      ? 'No file or directory changed.'
      : `${filtered}${m.files.length.toLocaleString('en-US')} changed files and directories${listed}${cut}.`;
}

function fileRow(f: ChangedFile, max: number, selected: boolean, actions: FilesPanelActions): HTMLLIElement {
  const item = el('li', { class: 'file-row', 'data-path': f.path, 'data-change': f.change, 'data-changed-bytes': String(f.changedBytes) });
  const button = el('button', {
    class: 'file',
    'aria-pressed': String(selected),
    'aria-label': `${fileLabel(f)}. ${selected ? 'Its blocks are lit on the map; press to clear.' : 'Press to light up its blocks on the map.'}`,
    title: fileLabel(f),
  });
  const bar = el('span', { class: 'file-bar', 'aria-hidden': 'true' });
  bar.style.width = `${Math.max(f.changedBytes > 0 ? 2 : 0, (f.changedBytes / max) * 100)}%`;
  // The path is cut at its start (right-to-left overflow) so that the file name stays visible; the marks keep
  // its slashes in left-to-right order.
  const name = el('span', { class: 'file-path' }, `\u200e${f.dir && f.path !== '/' ? `${f.path}/` : f.path}\u200e`);
  const kind = el('span', { class: `file-change change-${f.change}` }, CHANGE_LABEL[f.change]);
  const size = el('span', { class: 'file-bytes' }, formatBytes(f.changedBytes));
  button.append(bar, name, kind, size);
  button.addEventListener('click', () => actions.select(selected ? undefined : f.path));
  item.append(button);
  return item;
}

/** Binds the filter box, and Escape (anywhere in the panel) to put out the lit file. */
export function bindFiles(state: MapState, actions: FilesPanelActions): void {
  dom.filesFilter.value = state.fileFilter;
  dom.filesFilter.addEventListener('input', () => {
    state.fileFilter = dom.filesFilter.value;
    actions.filtered();
  });
  window.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.selectedFile !== undefined) actions.select(undefined);
  });
}

/** The file lit on the map, when the list holds it. */
export function selectedFileEntry(state: MapState): ChangedFile | undefined {
  const path = state.selectedFile;
  if (path === undefined || state.files?.state !== 'ready') return undefined;
  return state.files.files.find((f) => f.path === path);
}
