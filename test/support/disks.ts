import type { AzureClients } from '../../src/azure';

export interface DiskWrite {
  readonly offset: number;
  readonly length: number;
  /** Clear Pages instead of writing. */
  readonly clear?: boolean;
}

const MAX_PUT = 4 * 1024 * 1024;

/** Deterministic page content: differs by offset and by a per-write salt, so rewrites are real changes. */
export function pattern(offset: number, length: number, salt: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) b.writeUInt32LE(((offset + i) * 2654435761 + salt * 40503) >>> 0, i);
  return b;
}

let salt = 1;

/**
 * Writes to an unattached disk the way a VM would: a Write grant (the emulator's stand-in for an
 * attached disk), Put Page / Clear Pages on the SAS, and the grant ended.
 */
export async function writeDisk(clients: AzureClients, diskId: string, writes: readonly DiskWrite[]): Promise<void> {
  const url = await clients.compute.grantAccess(diskId, 'Write', 600);
  try {
    const target = clients.dataPlane.openWritableSas(url);
    for (const w of writes) {
      if (w.clear) {
        await target.clearPages(w.offset, w.length);
        continue;
      }
      const data = pattern(w.offset, w.length, salt++);
      for (let at = 0; at < w.length; at += MAX_PUT) {
        const n = Math.min(MAX_PUT, w.length - at);
        await target.putPages(w.offset + at, data.subarray(at, at + n));
      }
    }
  } finally {
    await clients.compute.revokeAccess(diskId);
  }
}
