/**
 * The official differential-copy sample's algorithm (Azure-Samples, .NET; docs/azure-behaviour.md#the-official-differential-copy-sample), written with
 * @azure/storage-blob as the baseline: grant read SAS, list the managed-disk diff with ONE request,
 * clear the ClearRanges, copy each PageRange with sequential 4 MiB Put Page From URL calls, snapshot the
 * blob. Unlike the sample, the chunk offsets are right (range start + offset), so its targets are valid.
 * Like the sample: sequential, no verification, the SDK's default retries.
 */
import { AnonymousCredential, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { ComputeApi } from '../src/core/ports';
import type { SnapshotInfo } from '../src/core/model';
import type { EmulatorStorageAccount } from '../src/core/emulatorConnection';
import type { RunningEmulator } from '../test/support/emulator';

const CHUNK = 4 * 1024 * 1024;

export interface SampleCopyResult {
  readonly seconds: number;
  readonly bytesCopied: number;
  readonly requests: number;
}

export async function officialSampleCopy(
  em: RunningEmulator,
  compute: ComputeApi,
  account: EmulatorStorageAccount,
  container: string,
  blobName: string,
  snapshots: readonly SnapshotInfo[],
  /** the target already holds this snapshot: start with a diff from it */
  previous?: SnapshotInfo,
  /** list only the first `windowBytes` of the disk (the bench times a part of a long sequential run) */
  windowBytes?: number,
): Promise<SampleCopyResult> {
  const options = { httpClient: em.storageHttpClient };
  const target = new PageBlobClient(
    `${account.blobEndpoint}/${container}/${blobName}`,
    new StorageSharedKeyCredential(account.name, account.accountKey),
    options,
  );
  const start = performance.now();
  let bytesCopied = 0;
  let requests = 0;
  let prevSas: string | undefined;
  if (previous) prevSas = (await compute.grantAccess(previous.id, 'Read', 3600)).reveal();
  const granted = previous ? [previous] : [];
  try {
    for (const snap of snapshots) {
      const sas = (await compute.grantAccess(snap.id, 'Read', 3600)).reveal();
      granted.push(snap);
      const source = new PageBlobClient(sas, new AnonymousCredential(), options);
      if (!(await target.exists())) await target.create(snap.sizeBytes + 512);
      let pageRanges: { offset: number; count: number }[];
      if (prevSas) {
        // One request, no marker: the sample reads only the first page of the list.
        const diff = await source.getPageRangesDiffForManagedDisks(0, windowBytes ?? snap.sizeBytes + 512, prevSas);
        for (const r of diff.clearRange ?? []) {
          await target.clearPages(r.offset, (r.count ?? 0) + 1);
          requests++;
        }
        pageRanges = (diff.pageRange ?? []).map((p) => ({ offset: p.offset, count: p.count ?? 0 }));
      } else {
        pageRanges = ((await source.getPageRanges()).pageRange ?? []).map((p) => ({ offset: p.offset, count: p.count ?? 0 }));
      }
      for (const r of pageRanges) {
        const length = r.count + 1;
        for (let at = 0; at < length; at += CHUNK) {
          const n = Math.min(CHUNK, length - at);
          await target.uploadPagesFromURL(sas, r.offset + at, r.offset + at, n);
          bytesCopied += n;
          requests++;
        }
      }
      await target.createSnapshot();
      prevSas = sas;
      // The sample never revokes; the bench revokes grants it no longer needs, or a family's five SAS run out.
      while (granted.length > 2) await compute.revokeAccess(granted.shift()!.id);
    }
  } finally {
    for (const s of granted) await compute.revokeAccess(s.id);
  }
  return { seconds: (performance.now() - start) / 1000, bytesCopied, requests };
}
