/**
 * What Disk Delta remembers of each family's differential copy, in a file of the extension's global storage. No
 * `vscode` here, so the file format and its migration are tested with plain `node --test`.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A family's differential copy (no SAS, no token, no endpoint: ids and names only). */
export interface CopyRecord {
  readonly familyId: string;
  readonly familyName: string;
  readonly subscriptionId: string;
  /**
   * The target storage account's resource id. Its blob endpoint is looked up each time a copy starts: a
   * remembered endpoint goes stale (an emulator started on another port, an account re-created).
   */
  readonly targetAccountId: string;
  readonly targetAccountName: string;
  readonly targetRegion: string;
  readonly container: string;
  readonly blobName: string;
  readonly journalFile: string;
  readonly importKind: 'none' | 'snapshot' | 'disk';
  /** The snapshot the running or last copy brings the target up to. */
  readonly upToSnapshotId?: string;
  readonly lastCopiedSnapshotId?: string;
  readonly lastCopiedAt?: string;
  /** The last blob snapshot written, without any SAS. */
  readonly lastBlobSnapshotUrl?: string;
  readonly state: 'running' | 'interrupted' | 'done' | 'failed';
  readonly error?: string;
}

/** Version 2 keeps the account id; version 1 kept the whole account, endpoint included. */
export const COPY_RECORDS_VERSION = 2;

interface RecordV1 extends Omit<CopyRecord, 'targetAccountId' | 'targetAccountName' | 'targetRegion'> {
  readonly targetAccount?: { readonly id?: string; readonly name?: string; readonly location?: string; readonly blobEndpoint?: string };
}

/** A record as read from any version of the file; undefined when it cannot be used. */
export function migrateCopyRecord(raw: unknown): CopyRecord | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Partial<CopyRecord> & RecordV1;
  if (typeof r.familyId !== 'string') return undefined;
  if (typeof r.targetAccountId === 'string') return r as CopyRecord;
  const account = r.targetAccount;
  if (!account || typeof account.id !== 'string') return undefined;
  const { targetAccount: _endpointAndAll, ...rest } = r;
  return {
    ...rest,
    targetAccountId: account.id,
    targetAccountName: account.name ?? account.id.split('/').pop() ?? account.id,
    targetRegion: account.location ?? '',
  } as CopyRecord;
}

/**
 * Copy records in one JSON file, written atomically before each copy starts and when it ends: VS Code's global
 * state is flushed lazily and would lose the record of a copy whose window died, which is exactly the copy that
 * must be offered again.
 */
export class CopyRecordFile {
  #records: Record<string, CopyRecord> | undefined;
  constructor(private readonly file: string) {}

  all(): Record<string, CopyRecord> {
    if (!this.#records) {
      const records: Record<string, CopyRecord> = {};
      try {
        const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: number; records?: Record<string, unknown> };
        if ((parsed.version === 1 || parsed.version === COPY_RECORDS_VERSION) && parsed.records) {
          for (const raw of Object.values(parsed.records)) {
            const record = migrateCopyRecord(raw);
            if (record) records[record.familyId.toLowerCase()] = record;
          }
        }
      } catch {
        // no file yet, or one this version cannot read: start empty
      }
      this.#records = records;
    }
    return this.#records;
  }

  get(familyId: string): CopyRecord | undefined {
    return this.all()[familyId.toLowerCase()];
  }

  async save(record: CopyRecord): Promise<void> {
    this.#records = { ...this.all(), [record.familyId.toLowerCase()]: record };
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: COPY_RECORDS_VERSION, records: this.#records }, null, 2));
    await rename(tmp, this.file);
  }
}

/** A blob snapshot URL as shown and copied: the `snapshot` parameter kept, anything else (a SAS) dropped. */
export function blobSnapshotUrlWithoutSas(url: string): string {
  try {
    const u = new URL(url);
    const snapshot = u.searchParams.get('snapshot');
    u.search = '';
    if (snapshot) u.searchParams.set('snapshot', snapshot);
    return u.toString();
  } catch {
    return url.split('?')[0]!;
  }
}

/** The blob snapshot time of a blob snapshot URL (`?snapshot=...`). */
export function blobSnapshotTime(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).searchParams.get('snapshot') ?? undefined;
  } catch {
    return undefined;
  }
}
