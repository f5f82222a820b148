import * as vscode from 'vscode';
import { resolvePath } from '../../core/filesystems/paths';
import { SnapshotBrowser } from '../../core/filesystems/snapshotBrowser';
import type { FileType } from '../../core/filesystems/types';
import { parseResourceId } from '../../core/resourceId';
import type { DiskDeltaServices } from '../services';
import { settings } from '../settings';

export const SNAPSHOT_SCHEME = 'disk-delta-snapshot';

/** VS Code reads a whole file at once; beyond this it is refused with a hint to use `disk-delta get`. */
const MAX_OPEN_BYTES = 1024 ** 3;
const PIECE = 64 * 1024 * 1024;

/** `disk-delta-snapshot:/<path>?snapshot=<id>&partition=<n>`: one file of one snapshot's filesystem. */
export function snapshotUri(snapshotId: string, partition: number, filePath = '/'): vscode.Uri {
  const query = new URLSearchParams({ snapshot: snapshotId, partition: String(partition) }).toString();
  return vscode.Uri.from({ scheme: SNAPSHOT_SCHEME, path: filePath.startsWith('/') ? filePath : `/${filePath}`, query });
}

export function parseSnapshotUri(uri: vscode.Uri): { snapshotId: string; partition: number; path: string } {
  const q = new URLSearchParams(uri.query);
  const snapshotId = q.get('snapshot');
  const partition = Number(q.get('partition') ?? 'NaN');
  if (!snapshotId || !Number.isInteger(partition)) throw vscode.FileSystemError.FileNotFound(uri);
  return { snapshotId, partition, path: uri.path || '/' };
}

function fileType(t: FileType): vscode.FileType {
  return t === 'dir'
    ? vscode.FileType.Directory
    : t === 'symlink'
      ? vscode.FileType.SymbolicLink
      : t === 'file'
        ? vscode.FileType.File
        : vscode.FileType.Unknown;
}

/**
 * The read-only file system over snapshots: each snapshot browsed holds one read grant while it is
 * used, given back after `diskDelta.snapshotFiles.idleSeconds` without a read (two minutes by default) and
 * when the extension stops (SnapshotBrowser).
 */
export class SnapshotFileSystem implements vscode.FileSystemProvider, vscode.Disposable {
  readonly #browsers = new Map<string, SnapshotBrowser>();
  readonly #emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.#emitter.event;

  constructor(private readonly s: DiskDeltaServices) {}

  async browser(snapshotId: string): Promise<SnapshotBrowser> {
    const key = snapshotId.toLowerCase();
    let b = this.#browsers.get(key);
    if (!b) {
      const { subscriptionId } = parseResourceId(snapshotId);
      const clients = await this.s.connection.clientsFor(subscriptionId);
      b = new SnapshotBrowser(clients.compute, clients.dataPlane, snapshotId, {
        sasDurationSeconds: settings.sasDurationSeconds(),
        idleMs: settings.snapshotIdleMs(),
        onRevoked: (id, error) => (error ? this.s.log.warn(`Access on ${id}: ${String(error)}`) : this.s.log.info(`Snapshot files: access revoked on ${id}`)),
        onRetry: (reason) => this.s.log.info(reason),
      });
      this.#browsers.set(key, b);
    }
    return b;
  }

  /** Gives back the grant of a snapshot no longer browsed (its folder was removed); a later read grants again. */
  async forget(snapshotId: string): Promise<void> {
    const key = snapshotId.toLowerCase();
    const b = this.#browsers.get(key);
    if (!b) return;
    this.#browsers.delete(key);
    await b.close();
  }

  async #resolve(uri: vscode.Uri, followLast: boolean) {
    const { snapshotId, partition, path } = parseSnapshotUri(uri);
    const fs = await (await this.browser(snapshotId)).filesystem(partition);
    const found = await resolvePath(fs, path, { followLast });
    if (!found) throw vscode.FileSystemError.FileNotFound(uri);
    return { fs, found };
  }

  watch(): vscode.Disposable {
    // A snapshot never changes.
    return new vscode.Disposable(() => undefined);
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const { found } = await this.#resolve(uri, true);
    const mtime = found.stat.modified.getTime();
    return { type: fileType(found.stat.type), ctime: mtime, mtime, size: found.stat.sizeBytes, permissions: vscode.FilePermission.Readonly };
  }

  async readDirectory(uri: vscode.Uri): Promise<Array<[string, vscode.FileType]>> {
    const { fs, found } = await this.#resolve(uri, true);
    if (found.stat.type !== 'dir') throw vscode.FileSystemError.FileNotADirectory(uri);
    const out: Array<[string, vscode.FileType]> = [];
    for (const e of await fs.readDir(found.id)) {
      if (e.name === '.' || e.name === '..') continue;
      out.push([e.name, fileType(e.type ?? (await fs.stat(e.id)).type)]);
    }
    return out;
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const { fs, found } = await this.#resolve(uri, true);
    if (found.stat.type === 'dir') throw vscode.FileSystemError.FileIsADirectory(uri);
    const size = found.stat.sizeBytes;
    if (size > MAX_OPEN_BYTES) {
      throw vscode.FileSystemError.NoPermissions(`${found.path} is ${size} bytes: too large to open here; use disk-delta get to restore it.`);
    }
    const out = new Uint8Array(size);
    for (let at = 0; at < size; at += PIECE) out.set(await fs.readFile(found.id, at, Math.min(PIECE, size - at)), at);
    return out;
  }

  createDirectory(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  writeFile(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  delete(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  rename(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  #closing: Promise<void> = Promise.resolve();

  /** Gives back every browsing grant and waits until they are revoked (those already being closed too). */
  async closeAll(): Promise<void> {
    const open = [...this.#browsers.values()];
    this.#browsers.clear();
    const before = this.#closing;
    this.#closing = Promise.all([before, ...open.map((b) => b.close().catch(() => undefined))]).then(() => undefined);
    await this.#closing;
  }

  dispose(): void {
    void this.closeAll();
    this.#emitter.dispose();
  }
}
