import type { FilesystemFormat } from './types';

/**
 * The filesystem formats Disk Delta reads, tried in order on each partition's first 64 KiB. Each is
 * loaded on first use, so a command that never opens a filesystem pays nothing for the parsers.
 * A new format is one line here.
 */
const LOADERS: ReadonlyArray<() => Promise<FilesystemFormat>> = [
  async () => (await import('./ext4')).ext4Format,
  async () => (await import('./xfs')).xfsFormat,
  async () => (await import('./ntfs')).ntfsFormat,
];

let loaded: Promise<FilesystemFormat[]> | undefined;

export function filesystemFormats(): Promise<FilesystemFormat[]> {
  loaded ??= Promise.all(LOADERS.map((load) => load()));
  return loaded;
}
