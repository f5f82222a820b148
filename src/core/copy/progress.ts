/**
 * Progress events, notices and per-snapshot summaries of a copy (the summary's field names are a CLI contract),
 * and the one account of a whole copy's progress both front ends show (`CopyProgressTracker`, `formatCopyProgress`).
 */
import { formatBytes, formatDuration, formatRate } from '../format';

export type CopyPhase = 'granting' | 'planning' | 'clearing' | 'copying' | 'verifying' | 'snapshotting' | 'importing' | 'revoking' | 'done';

export interface CopyProgress {
  readonly phase: CopyPhase;
  /** 0-based index of the snapshot being copied among those this run copies. */
  readonly snapshotIndex: number;
  readonly snapshotCount: number;
  /** The name of the snapshot this step copies, when the engine knows it. */
  readonly snapshotName?: string;
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

/**
 * One snapshot's outcome, as `disk-delta copy --json` prints it. Open to more figures: front ends print the
 * fields they know and pass the rest through.
 */
export interface SnapshotCopySummary {
  /** Changed bytes this run copied (the diff's; a coalesced write's gaps are not counted here). */
  readonly bytesCopied: number;
  /** Bytes this run's write requests carried: bytesCopied plus the unchanged gaps coalesced writes rewrote. */
  readonly bytesMoved?: number;
  /** Changed bytes of the whole step's plan, those a resumed run skipped included. */
  readonly changedBytes?: number;
  /** Gaps between changed ranges that writes rewrote to save requests (coalesce.ts). */
  readonly coalescedGaps?: number;
  /** Which term of max(bytes / byteRate, requests / requestRate) bounds the step's plan. */
  readonly bound?: 'requests' | 'bytes';
  /** Bytes the verification hashed on both sides (0 without verification). */
  readonly verifiedBytes?: number;
  /** `sample:<percent>`: the seed that picked the sampled ranges, and how many were hashed. */
  readonly verifySeed?: number;
  readonly verifiedRanges?: number;
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
    readonly snapshotName?: string,
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
      ...(this.snapshotName !== undefined ? { snapshotName: this.snapshotName } : {}),
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

/** A whole copy (every snapshot it copies) at one moment. */
export interface OverallProgress {
  readonly phase: CopyPhase;
  readonly snapshotIndex: number;
  readonly snapshotCount: number;
  readonly snapshotName: string | undefined;
  /** Bytes written so far over all snapshots (those a journal showed done included). */
  readonly bytesDone: number;
  /**
   * Bytes the copy moves: exact once `totalIsFinal`; before that, the bytes listed so far - a lower bound that
   * only grows. 0 while nothing is listed.
   */
  readonly bytesTotal: number;
  readonly totalIsFinal: boolean;
  /** What the caller expected the copy to move (from sizes it knew beforehand), when it said so. */
  readonly bytesExpected: number | undefined;
  /** 0..1 of the whole copy; never goes back. */
  readonly fraction: number;
  readonly bytesPerSecond: number;
  /**
   * Seconds left for what remains of the whole plan: from the final total, else from the larger of the lower
   * bound and the expected bytes (then `etaIsLowerBound` says whether it can only grow).
   */
  readonly etaSeconds: number | undefined;
  readonly etaIsLowerBound: boolean;
  readonly requests: number;
  readonly retries: number;
  /** Bytes read from the source and written by this machine because the target refused to copy by URL. */
  readonly bytesRelayed: number;
}

interface StepFigures {
  bytesDone: number;
  bytesTotal: number;
  final: boolean;
  requests: number;
  retries: number;
  bytesRelayed: number;
}

/**
 * Turns the engine's per-snapshot events into one account of the whole copy. The engine lists a snapshot's
 * changes while it copies them and lists later snapshots only when it reaches them, so a total is final only
 * once the last snapshot's listing is complete; before that it is a lower bound.
 */
export class CopyProgressTracker {
  readonly #steps: StepFigures[] = [];
  #fraction = 0;
  #rate = 0;
  #finalTotal: number | undefined;
  #last: OverallProgress | undefined;

  constructor(
    private readonly options: {
      /** Bytes the caller expects each snapshot of the copy to move, in copy order (undefined where unknown). */
      readonly expectedBytes?: readonly (number | undefined)[];
    } = {},
  ) {}

  get last(): OverallProgress | undefined {
    return this.#last;
  }

  update(p: CopyProgress): OverallProgress {
    const step: StepFigures = {
      bytesDone: p.bytesDone,
      bytesTotal: Math.max(p.bytesTotal, p.bytesDone),
      final: !p.bytesTotalIsEstimate,
      requests: p.requests,
      retries: p.retries,
      bytesRelayed: p.bytesRelayed,
    };
    this.#steps[p.snapshotIndex] = step;
    // Steps before the current one are over: what they listed is all they had.
    for (let i = 0; i < p.snapshotIndex; i += 1) {
      const s = this.#steps[i];
      if (s) s.final = true;
    }
    if (p.bytesPerSecond > 0) this.#rate = p.bytesPerSecond;
    const sum = (f: (s: StepFigures) => number): number => this.#steps.reduce((n, s) => n + (s ? f(s) : 0), 0);
    const bytesDone = sum((s) => s.bytesDone);
    const listed = sum((s) => s.bytesTotal);
    const last = p.snapshotIndex === p.snapshotCount - 1;
    if (this.#finalTotal === undefined && last && step.final) this.#finalTotal = listed;
    const totalIsFinal = this.#finalTotal !== undefined;
    const bytesTotal = this.#finalTotal ?? listed;
    const expected = this.#expected(p.snapshotCount);
    // Bytes still to move: those listed and not yet written, plus, for snapshots not listed yet, what was expected of them.
    let unlisted = 0;
    let unknown = false;
    if (!totalIsFinal) {
      for (let i = p.snapshotIndex; i < p.snapshotCount; i += 1) {
        const s = this.#steps[i];
        const e = this.options.expectedBytes?.[i];
        if (s?.final) continue;
        if (e === undefined) unknown = true;
        else unlisted += Math.max(0, e - (s?.bytesTotal ?? 0));
      }
    }
    const remaining = Math.max(0, bytesTotal - bytesDone) + unlisted;
    const etaSeconds = remaining === 0 ? (totalIsFinal ? 0 : undefined) : this.#rate > 0 ? remaining / this.#rate : undefined;
    // Within a step, listed bytes are the lower bound; across steps, each finished step counts whole.
    const byBytes = bytesTotal > 0 ? bytesDone / Math.max(bytesTotal, expected ?? 0) : 0;
    // A step's share by its listed bytes so far: it may overstate while the listing grows; the fraction then waits.
    const byStep = (p.snapshotIndex + (step.bytesTotal > 0 ? Math.min(1, step.bytesDone / step.bytesTotal) : 0)) / Math.max(1, p.snapshotCount);
    const fraction = p.phase === 'done' && last ? 1 : totalIsFinal ? Math.max(byBytes, byStep) : byStep;
    this.#fraction = Math.min(1, Math.max(this.#fraction, fraction));
    this.#last = {
      phase: p.phase,
      snapshotIndex: p.snapshotIndex,
      snapshotCount: p.snapshotCount,
      snapshotName: p.snapshotName,
      bytesDone,
      bytesTotal,
      totalIsFinal,
      bytesExpected: expected,
      fraction: this.#fraction,
      bytesPerSecond: p.bytesPerSecond,
      etaSeconds,
      etaIsLowerBound: !totalIsFinal && unknown,
      requests: sum((s) => s.requests),
      retries: sum((s) => s.retries),
      bytesRelayed: sum((s) => s.bytesRelayed),
    };
    return this.#last;
  }

  #expected(count: number): number | undefined {
    const e = this.options.expectedBytes;
    if (!e || e.length !== count || e.some((x) => x === undefined)) return undefined;
    return e.reduce<number>((n, x) => n + (x ?? 0), 0);
  }
}

const PHASE_TEXT: Record<CopyPhase, string> = {
  granting: 'granting read access',
  planning: 'listing changes',
  clearing: 'clearing pages',
  copying: 'copying',
  verifying: 'verifying',
  snapshotting: 'taking the blob snapshot',
  importing: 'importing',
  revoking: 'revoking access',
  done: 'done',
};

/** "1 snapshot", "2 snapshots". */
export function countOf(n: number, noun: string, plural = `${noun}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? noun : plural}`;
}

/**
 * One line for a copy's progress, the same in the CLI and VS Code:
 * `app-2 [2/3] copying 120 MiB of at least 956 MiB · 58 MiB/s · at least 15 s left`.
 * Byte counts only while bytes move (copying); a total is marked "at least" until it is final.
 */
export function formatCopyProgress(o: OverallProgress, extra?: { requests?: boolean }): string {
  const parts: string[] = [];
  const name = o.snapshotName ? `${o.snapshotName} ` : '';
  let head = `${name}[${o.snapshotIndex + 1}/${o.snapshotCount}] ${PHASE_TEXT[o.phase]}`;
  if (o.phase === 'copying') {
    if (o.bytesTotal > 0) head += ` ${formatBytes(o.bytesDone)} of ${o.totalIsFinal ? '' : 'at least '}${formatBytes(o.bytesTotal)}`;
    else head += ` ${formatBytes(o.bytesDone)}`;
    if (o.bytesPerSecond > 0) parts.push(formatRate(o.bytesPerSecond));
    if (o.etaSeconds !== undefined) parts.push(`${o.etaIsLowerBound ? 'at least ' : ''}${formatDuration(o.etaSeconds * 1000)} left`);
  }
  if (extra?.requests) parts.push(`${countOf(o.requests, 'request')}, ${countOf(o.retries, 'retry', 'retries')}`);
  // The target refused to copy from the source's URL: these bytes cost this machine's bandwidth.
  if (o.bytesRelayed > 0) parts.push(`${formatBytes(o.bytesRelayed)} through this machine`);
  return [head, ...parts].join(' · ');
}

/** Seconds a copy of `bytes` in `requests` takes at one page blob's scale targets - docs/azure-behaviour.md#scale-targets-of-one-page-blob. */
export function secondsAtBlobLimit(bytes: number, requests: number, limits: { readonly requestsPerSecond: number; readonly bytesPerSecond: number }): number {
  return Math.max(bytes / limits.bytesPerSecond, requests / limits.requestsPerSecond);
}
