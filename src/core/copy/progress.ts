/** Progress events, notices and per-snapshot summaries of a copy (the summary's field names are a CLI contract). */

export type CopyPhase = 'granting' | 'planning' | 'clearing' | 'copying' | 'verifying' | 'snapshotting' | 'importing' | 'revoking' | 'done';

export interface CopyProgress {
  readonly phase: CopyPhase;
  /** 0-based index of the snapshot being copied among those this run copies. */
  readonly snapshotIndex: number;
  readonly snapshotCount: number;
  readonly bytesDone: number;
  /** Bytes this snapshot moves; grows while its ranges are still being listed (see `bytesTotalIsEstimate`). */
  readonly bytesTotal: number;
  readonly bytesTotalIsEstimate: boolean;
  readonly rangesDone: number;
  readonly requests: number;
  readonly retries: number;
  /**
   * Bytes read from the source and written to the target through this machine, because the target refused
   * to copy them from the source's URL (docs/azure-behaviour.md#put-page-from-url-sources); 0 when Azure
   * copied everything server-side.
   */
  readonly bytesRelayed: number;
  /** Smoothed over recent seconds. */
  readonly bytesPerSecond: number;
  readonly etaSeconds: number | undefined;
}

export interface CopyNotice {
  readonly snapshotIndex: number;
  /** e.g. `FullCopyAfterResize`, `Resumed`, `JournalTornLine`, `SourceRefusedFromUrl`, `RevokeFailed`. */
  readonly code: string;
  readonly message: string;
}

/** One snapshot's outcome, as `disk-delta copy --json` prints it. */
export interface SnapshotCopySummary {
  readonly bytesCopied: number;
  readonly bytesCleared: number;
  /** Of `bytesCopied`, those that passed through this machine (read, then written) instead of being copied by URL. */
  readonly bytesRelayed: number;
  readonly requests: number;
  readonly retries: number;
  readonly seconds: number;
  /** Blob snapshot URL without any SAS. */
  readonly targetBlobSnapshotUrl: string;
  readonly importedResourceId: string | undefined;
}

export type ProgressListener = (progress: CopyProgress) => void;
export type NoticeListener = (notice: CopyNotice) => void;

/** Counts one snapshot's work and turns it into events; cheap per call, throttling is the UI's job. */
export class ProgressMeter {
  phase: CopyPhase = 'granting';
  bytesDone = 0;
  bytesTotal = 0;
  bytesTotalIsEstimate = true;
  rangesDone = 0;
  requests = 0;
  retries = 0;
  bytesCopied = 0;
  bytesCleared = 0;
  /** Bytes read from the source and written by this machine (Put Page From URL refused). */
  bytesRelayed = 0;
  /** Bytes of operations a journal showed done, skipped by this run. */
  bytesSkipped = 0;
  #rate = 0;
  #sampleStart: number;
  #sampleBytes = 0;
  readonly startedAt: number;

  constructor(
    readonly snapshotIndex: number,
    readonly snapshotCount: number,
    private readonly listener: ProgressListener | undefined,
    private readonly now: () => number,
  ) {
    this.startedAt = now();
    this.#sampleStart = this.startedAt;
  }

  /** Bytes moved by this run (not those skipped on resume) feed the rate. */
  moved(bytes: number): void {
    this.bytesDone += bytes;
    this.#sampleBytes += bytes;
    const t = this.now();
    const elapsed = (t - this.#sampleStart) / 1000;
    if (elapsed >= 1) {
      const instant = this.#sampleBytes / elapsed;
      this.#rate = this.#rate === 0 ? instant : 0.3 * instant + 0.7 * this.#rate;
      this.#sampleStart = t;
      this.#sampleBytes = 0;
    }
  }

  get bytesPerSecond(): number {
    if (this.#rate > 0) return this.#rate;
    const elapsed = (this.now() - this.#sampleStart) / 1000;
    return elapsed > 0 ? this.#sampleBytes / elapsed : 0;
  }

  emit(phase?: CopyPhase): void {
    if (phase) this.phase = phase;
    if (!this.listener) return;
    const rate = this.bytesPerSecond;
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    this.listener({
      phase: this.phase,
      snapshotIndex: this.snapshotIndex,
      snapshotCount: this.snapshotCount,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      bytesTotalIsEstimate: this.bytesTotalIsEstimate,
      rangesDone: this.rangesDone,
      requests: this.requests,
      retries: this.retries,
      bytesRelayed: this.bytesRelayed,
      bytesPerSecond: rate,
      etaSeconds: left === 0 ? 0 : rate > 0 ? left / rate : undefined,
    });
  }

  seconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }
}
