import type { ReadGrant } from '../access';
import { resolveSnapshot } from '../diff';
import type { SnapshotInfo } from '../model';
import type { ComputeApi, DataPlane } from '../ports';
import type { Secret } from '../secret';
import { chooseVolume, openDisk, type DiskImage } from './disk';
import { snapshotReader } from './snapshotImage';
import type { Filesystem } from './types';

export interface SnapshotBrowserOptions {
  /** Read access is given back after this long without a read (default 2 minutes), and asked again on the next one. */
  readonly idleMs?: number;
  readonly sasDurationSeconds?: number;
  readonly onRevoked?: (resourceId: string, error?: unknown) => void;
  readonly onRetry?: (reason: string) => void;
}

interface Open {
  readonly disk: DiskImage;
  readonly snapshot: SnapshotInfo;
}

/**
 * Long-lived read access to one snapshot for browsing its files (the read-only file system in VS Code):
 * granted on first use, kept while reads come, revoked after an idle time and on close - an open grant
 * holds one of the family's SAS slots and shows the snapshot as "Active SAS"
 * (docs/azure-behaviour.md#access-sas-grants). A grant someone else held before is never revoked.
 */
export class SnapshotBrowser {
  #open: Promise<Open> | undefined;
  #granted = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    private readonly compute: ComputeApi,
    private readonly dataPlane: DataPlane,
    readonly snapshotId: string,
    private readonly options: SnapshotBrowserOptions = {},
  ) {}

  /** The filesystem on `partition` (default: the only readable one). */
  async filesystem(partition?: number): Promise<Filesystem> {
    const { disk } = await this.disk();
    return chooseVolume(disk, partition).filesystem;
  }

  async disk(): Promise<Open> {
    if (this.#closed) throw new Error('This snapshot browser is closed.');
    this.#touch();
    this.#open ??= this.#connect();
    this.#open.catch(() => (this.#open = undefined));
    return this.#open;
  }

  async #connect(): Promise<Open> {
    const snapshot = await resolveSnapshot(this.compute, this.snapshotId);
    const heldBefore = snapshot.diskState === 'ActiveSAS';
    let url: Secret = await this.compute.grantAccess(snapshot.id, 'Read', this.options.sasDurationSeconds ?? 3600);
    this.#granted = !heldBefore;
    const grant: ReadGrant = {
      resourceId: snapshot.id,
      url: () => url,
      renew: async (o) => {
        url = await this.compute.grantAccess(snapshot.id, 'Read', this.options.sasDurationSeconds ?? 3600, o);
        return url;
      },
    };
    const reader = snapshotReader(this.dataPlane, snapshot, grant, { onRetry: this.options.onRetry });
    try {
      return { disk: await openDisk(reader), snapshot };
    } catch (error) {
      if (this.#granted) {
        this.#granted = false;
        await this.compute.revokeAccess(snapshot.id).then(
          () => this.options.onRevoked?.(snapshot.id),
          (e: unknown) => this.options.onRevoked?.(snapshot.id, e),
        );
      }
      throw error;
    }
  }

  #touch(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#release(), this.options.idleMs ?? 120_000);
    this.#timer.unref?.();
  }

  /** Gives the grant back; the next read asks for a new one. */
  async #release(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const open = this.#open;
    this.#open = undefined;
    if (!open) return;
    const granted = this.#granted;
    this.#granted = false;
    const snapshot = await open.then((o) => o.snapshot).catch(() => undefined);
    if (!snapshot) return;
    if (!granted) {
      this.options.onRevoked?.(snapshot.id, new Error('left open: it had a grant before'));
      return;
    }
    try {
      await this.compute.revokeAccess(snapshot.id);
      this.options.onRevoked?.(snapshot.id);
    } catch (error) {
      this.options.onRevoked?.(snapshot.id, error);
    }
  }

  /** Revokes the grant made for browsing (if any) and refuses further reads. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#release();
  }
}
