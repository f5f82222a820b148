/**
 * What the emulator counts, and what `GET /emulator/stats` answers: declared once here, read by the
 * control endpoints and by the tests (test/support/emulator.ts) that assert on it.
 */

/** The counters the emulator keeps between resets. */
export interface EmulatorCounters {
  since: string;
  requests: Record<string, number>;
  bytesWrittenByBlob: Record<string, number>;
  bytesWrittenByAccount: Record<string, number>;
  bytesClearedByBlob: Record<string, number>;
  bytesReadByBlob: Record<string, number>;
  faultsInjected: Record<string, number>;
}

/** The body of `GET /emulator/stats` (and of `POST /emulator/stats/reset`). */
export interface EmulatorStats extends EmulatorCounters {
  /** SAS grants on disks and snapshots that have not expired or been revoked. */
  activeSasGrants: number;
  /** Bytes in the page log (written page contents). */
  pageLogBytes: number;
}

export function emptyCounters(): EmulatorCounters {
  return {
    since: new Date().toISOString(),
    requests: {},
    bytesWrittenByBlob: {},
    bytesWrittenByAccount: {},
    bytesClearedByBlob: {},
    bytesReadByBlob: {},
    faultsInjected: {},
  };
}
