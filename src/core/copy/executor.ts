import { getMaxListeners, setMaxListeners } from 'node:events';
/**
 * Runs one `CopyPlan`: grant read SAS, stream the plan's page operations through a bounded, adaptive pool
 * with retries, verify, take the blob snapshot, import, record, and always revoke.
 */
import { createHash } from 'node:crypto';
import type { PageRange, StorageAccountInfo } from '../model';
import { iterateChunks, mergeAdjacentStream, rangeEnd } from '../pageRanges';
import type { ByteWindow, ComputeApi, PageTarget } from '../ports';
import { DiskDeltaError } from '../errors';
import { parseResourceId } from '../resourceId';
import { redact } from '../secret';
import type { CoalescedOp, CoalesceTally } from './coalesce';
import { boundOf, coalesceStream, tallyOp } from './coalesce';
import type { GrantPool, SasGrant } from './grants';
import { revokeFailedMessage } from './grants';
import type { CopyJournal } from './journal';
import type { CopyPlan, PageOp } from './plan';
import { Prefetch } from './prefetch';
import { newSampleSeed, samplePercent, sampleSelector } from './sample';
import { describeRange, diffOps, planId, unionStream, validatePlanShape, VHD_FOOTER_BYTES, windowedRanges, writeOps } from './plan';
import type { NoticeListener, ProgressListener, SnapshotCopySummary } from './progress';
import { ProgressMeter } from './progress';
import type { ClassifiedError, RetryPolicy, RetryScope } from './retry';
import {
  abortError,
  AdaptiveConcurrency,
  ARM_SCOPE,
  BlobPacer,
  classifyError,
  dataPlaneScope,
  DEFAULT_RETRY_POLICY,
  PAGE_BLOB_TARGETS,
  retryDecision,
  sleep,
  throwIfAborted,
  withTimeout,
} from './retry';
import { createdMetadata, inProgressSnapshot, markedInProgress, recordedMetadata, snapshotMetadata } from './targetMetadata';

export interface CopyExecutorOptions {
  /** Most page requests at once (the AIMD limit starts here and never exceeds it); default 64. */
  readonly concurrency?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly sasDurationSeconds?: number;
  /** Reads at once while verifying (each reads both sides). */
  readonly verifyConcurrency?: number;
  /**
   * Pace requests to the target blob (writes, and verification reads) under these rates (the CLI and the extension pass
   * AZURE_TARGET_PACE); without it requests go as fast as the concurrency limit allows.
   */
  readonly targetPace?: { readonly requestsPerSecond: number; readonly bytesPerSecond: number } | false;
  /**
   * Merge neighbouring changed ranges of a differential step into one request when that shortens
   * max(bytes / byteRate, requests / requestRate) at the `targetPace` rates (coalesce.ts); default true, and
   * only ever with a `targetPace`.
   */
  readonly coalesce?: boolean;
  /** Seed of a `sample:<percent>` verification (default: a fresh one per step, reported in the summary). */
  readonly verifySeed?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  readonly onNotice?: NoticeListener;
  /** Clock and randomness, for tests. */
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface StepContext {
  readonly plan: CopyPlan;
  readonly target: PageTarget;
  readonly account: StorageAccountInfo;
  readonly journal: CopyJournal;
  readonly snapshotIndex: number;
  readonly snapshotCount: number;
  readonly sourceDiskId?: string;
  /** The copy's read grants; the step revokes what it no longer needs and, on failure, everything. */
  readonly grants: GrantPool;
  /** This step's grants and operations, requested while the step before it ran (`prefetch`). */
  readonly prefetched?: StepPrefetch;
  /** The next step diffs against this step's source: keep its grant open. */
  readonly keepSource?: boolean;
  /**
   * Called once this step holds its grants: the time to request the next step's (before, a read-ahead could
   * take the family's last free grant from under this step).
   */
  readonly onGranted?: () => void;
  /**
   * The next step's source, when it is ready to start (granted, diff listing under way): the step records
   * it as in progress together with this one's completion, saving the next step a metadata write.
   */
  readonly nextSourceId?: () => string | undefined;
}

/** A step's grants and page operations, requested ahead of the step. */
export interface StepPrefetch {
  readonly plan: CopyPlan;
  /** True once the grants are held and the listing is under way. */
  readonly ready: boolean;
  /** Stops the listing (when the step will not run, or has no use for it). */
  close(): void;
}

interface PrefetchState extends StepPrefetch {
  readonly ops: Promise<Prefetch<PageOp> | undefined>;
  /** Retries of the listing made ahead of the step, added to the step's count. */
  readonly meter: ProgressMeter;
}

/**
 * Page data held in memory at once when pages are read and written by this machine (Put Page From URL
 * refused): 16 chunks of 4 MiB keep a copy's memory well bounded at any concurrency.
 */
const RELAY_BUDGET_BYTES = 64 * 1024 * 1024;

/** A count of bytes handed out first come, first served; each taker gives back what it took. */
class ByteBudget {
  #free: number;
  readonly #waiting: Array<{ bytes: number; resolve: () => void }> = [];
  constructor(readonly capacity: number) {
    this.#free = capacity;
  }

  take(bytes: number): Promise<void> {
    const n = Math.min(bytes, this.capacity);
    if (this.#waiting.length === 0 && this.#free >= n) {
      this.#free -= n;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push({ bytes: n, resolve }));
  }

  give(bytes: number): void {
    this.#free += Math.min(bytes, this.capacity);
    while (this.#waiting.length > 0 && this.#free >= this.#waiting[0]!.bytes) {
      const next = this.#waiting.shift()!;
      this.#free -= next.bytes;
      next.resolve();
    }
  }
}

/** Operations listed ahead of their step, at most (a few MiB of memory). */
const PREFETCH_OPS = 4096;

/** What the target holds after a step of this copy: the next step need not ask again. */
interface TargetState {
  readonly target: PageTarget;
  readonly metadata: Record<string, string>;
  readonly sizeBytes: number;
}

export interface SnapshotCopyResult {
  readonly sourceSnapshotId: string;
  readonly mode: CopyPlan['mode'];
  readonly fullReason?: CopyPlan['fullReason'];
  /** True when this run continued a step a journal had recorded. */
  readonly resumed: boolean;
  /** Bytes whose operations the journal showed done, so this run skipped them. */
  readonly bytesSkipped: number;
  readonly summary: SnapshotCopySummary;
}

export interface OperationFailure {
  readonly range: PageRange;
  readonly op: PageOp['op'] | 'verify';
  readonly code: string;
  readonly message: string;
}

/** Page operations that failed after their retries, reported together. */
export class CopyFailedError extends DiskDeltaError {
  constructor(
    readonly failures: readonly OperationFailure[],
    snapshotName: string,
  ) {
    const listed = failures
      .slice(0, 10)
      .map((f) => `${f.op} ${describeRange(f.range)}: ${f.code}: ${f.message}`)
      .join('; ');
    super(
      redact(`Copying snapshot ${snapshotName} failed: ${failures.length} page operation(s) failed after retries (${listed}).`),
      'CopyFailed',
      'Run the copy again: it resumes from its journal and redoes only what is not done.',
    );
    this.name = 'CopyFailedError';
  }
}

export class VerificationFailedError extends DiskDeltaError {
  constructor(
    readonly mismatches: readonly PageRange[],
    snapshotName: string,
  ) {
    super(
      `Verification of snapshot ${snapshotName} FAILED: the target differs from the source at ${mismatches.map(describeRange).join(', ')}.`,
      'VerificationFailed',
      'Do not rely on this copy. Delete the target blob (or its journal) and copy again; report the issue if it repeats.',
    );
    this.name = 'VerificationFailedError';
  }
}

/** What a verification hashed: bytes and ranges, and the seed when it was a sample. */
interface VerifyOutcome {
  readonly bytes: number;
  readonly ranges: number;
  readonly seed: number | undefined;
}

/** Size of each verification read. */
const VERIFY_READ_BYTES = 1024 * 1024;

export class CopyExecutor {
  readonly limiter: AdaptiveConcurrency;
  readonly policy: RetryPolicy;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #abandoned = new Set<Promise<unknown>>();
  readonly #pacer: BlobPacer | undefined;
  readonly #relayBudget = new ByteBudget(RELAY_BUDGET_BYTES);
  #targetState: TargetState | undefined;

  constructor(
    private readonly compute: ComputeApi,
    private readonly options: CopyExecutorOptions = {},
  ) {
    // 64: with ~20 ms per request and the source read inside each Put Page From URL, 16 requests in flight
    // reach only ~250 of a blob's 500 requests/s; the AIMD limit halves on the 503s beyond (npm run bench).
    this.limiter = new AdaptiveConcurrency(options.concurrency ?? 64);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#pacer = options.targetPace ? new BlobPacer(options.targetPace) : undefined;
    // Each request in flight listens for this signal's abort (the SDK's HTTP client adds a listener per request),
    // so up to about twice the concurrency limit listen at once: bounded, not a leak, but past Node's default of 10.
    if (options.signal) setMaxListeners(Math.max(getMaxListeners(options.signal), 2 * (options.concurrency ?? 64) + 16), options.signal);
  }

  get #signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  /** One data-plane request with this executor's retries and timeout (for checks made outside a step). */
  async call<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.#request(new ProgressMeter(0, 0, undefined, this.#now), [], op, false);
  }

  #notice(index: number, code: string, message: string): void {
    this.options.onNotice?.({ snapshotIndex: index, code, message });
  }

  /** Runs one step of a family copy. Throws an AbortError when cancelled, a DiskDeltaError when it fails. */
  async runStep(ctx: StepContext): Promise<SnapshotCopyResult> {
    const { plan, target, journal } = ctx;
    validatePlanShape(plan);
    const meter = new ProgressMeter(ctx.snapshotIndex, ctx.snapshotCount, this.options.onProgress, this.#now, plan.source.name);
    const pool = ctx.grants;
    const prefetched = ctx.prefetched && ctx.prefetched.plan === plan ? (ctx.prefetched as PrefetchState) : undefined;
    let failure: unknown;
    try {
      meter.emit('granting');
      // Listed ahead while the step before ran; if that went wrong, this step lists again (and reports the error).
      const ahead = prefetched ? await prefetched.ops : undefined;
      if (prefetched) meter.retries += prefetched.meter.retries;
      // Not granted ahead (a first step, or the family's five grants were taken): grants this copy released
      // are gone before it asks for more.
      if (!ahead) await pool.idle();
      const source = await pool.get(plan.source.id);
      const previous = plan.mode === 'delta' && plan.previous ? await pool.get(plan.previous.id) : undefined;
      ctx.onGranted?.();

      meter.emit('planning');
      const id = planId(plan);
      const stale = journal.currentStep;
      const resumed = await journal.beginStep(id, plan.source.id, plan.mode);
      if (resumed) {
        this.#notice(ctx.snapshotIndex, 'Resumed', `Resuming the copy of ${plan.source.name} from its journal (done up to byte ${stale?.watermark ?? 0}).`);
      } else if (stale && stale.sourceSnapshotId.toLowerCase() === plan.source.id.toLowerCase()) {
        this.#notice(
          ctx.snapshotIndex,
          'JournalStepDiscarded',
          `The journal recorded a different plan for ${plan.source.name} (other options or target state); starting this snapshot from its first chunk.`,
        );
      }
      if (plan.mode === 'full') {
        const why = {
          resize4TiB: 'the disk was resized across the 4 TB boundary, so Azure cannot diff it with the previous copy',
          previousMissing: 'the previously copied snapshot no longer exists',
          interruptedOtherCopy: 'an interrupted copy of another snapshot left pages in the target that a diff would not overwrite',
        }[plan.fullReason ?? 'previousMissing'];
        const code = { resize4TiB: 'FullCopyAfterResize', previousMissing: 'FullCopyPreviousMissing', interruptedOtherCopy: 'FullCopyAfterInterruption' }[
          plan.fullReason ?? 'previousMissing'
        ];
        this.#notice(ctx.snapshotIndex, code, `Copying ${plan.source.name} in full: ${why}.`);
      }

      await this.#prepareTarget(ctx, meter);

      const tally: CoalesceTally = { changedBytes: 0, bytesMoved: 0, requests: 0, coalescedGaps: 0 };
      let bytesMoved = 0;
      if (!journal.hasPhase('copied')) {
        meter.emit(plan.mode === 'delta' ? 'clearing' : 'copying');
        bytesMoved = await this.#runOps(ctx, meter, ahead ?? this.#planOps(plan, source, previous, meter), source, tally);
        await this.#settleAbandoned();
        await journal.recordPhase('copied');
      } else {
        ahead?.close();
      }
      meter.bytesTotalIsEstimate = false;

      let verified: VerifyOutcome | undefined;
      if (plan.verify !== 'none' && !journal.hasPhase('verified')) {
        meter.emit('verifying');
        verified = await this.#verify(ctx, meter, source, previous);
        await journal.recordPhase('verified');
      }

      // The blob's side of a boundary keeps its order: last write, Snapshot Blob, then the metadata write that
      // records it, which is what a later run trusts. The journal records each of those two requests while the
      // next one is in flight instead of before it: a journal behind the blob is a state a kill could leave
      // anyway (the blob's record wins, or the snapshot is taken again), so no fsync waits between them.
      let blobSnapshot = journal.currentStep?.blobSnapshot;
      let snapshotJournalled: Promise<void> = Promise.resolve();
      if (!journal.hasPhase('snapshotted') || !blobSnapshot) {
        meter.emit('snapshotting');
        blobSnapshot = await this.#request(meter, [], (signal) => target.snapshot(snapshotMetadata(plan), { signal }), false);
        snapshotJournalled = journal.recordPhase('snapshotted', { blobSnapshot });
        // Awaited below; this keeps a journal failure met before then from going unhandled.
        void snapshotJournalled.catch(() => undefined);
      }

      let importedResourceId = journal.currentStep?.importedId;
      if (plan.import.kind !== 'none' && !importedResourceId) {
        await snapshotJournalled;
        meter.emit('importing');
        importedResourceId = await this.#import(ctx, meter, target.snapshotUrl(blobSnapshot));
        await journal.recordPhase('imported', { importedId: importedResourceId });
      }

      // Recorded last: once the blob says it holds this snapshot, a re-run skips the step entirely.
      const known = this.#targetState?.target === target ? this.#targetState : undefined;
      this.#targetState = undefined;
      let recordJournalled: Promise<void> = Promise.resolve();
      if (!journal.hasPhase('recorded')) {
        const existing = known?.metadata ?? (await this.#request(meter, [], (signal) => target.getMetadata({ signal }), false));
        const next = ctx.nextSourceId?.();
        const recorded = recordedMetadata(existing, plan, blobSnapshot, ctx.sourceDiskId, next);
        await this.#request(meter, [], (signal) => target.setMetadata(recorded, { signal }), false);
        await snapshotJournalled;
        // Joins the `finished` line below in one group commit.
        recordJournalled = journal.recordPhase('recorded');
        void recordJournalled.catch(() => undefined);
        this.#targetState = { target, metadata: recorded, sizeBytes: plan.blobSizeBytes };
      }
      await snapshotJournalled;

      meter.emit('revoking');
      // The step before this one is done with (a full copy after a resize did not use it either).
      if (plan.previous) pool.release(plan.previous.id);
      if (!ctx.keepSource) await this.#closeGrants(pool, ctx.snapshotIndex, true);
      await Promise.all([recordJournalled, journal.finishStep()]);
      meter.emit('done');
      return {
        sourceSnapshotId: plan.source.id,
        mode: plan.mode,
        fullReason: plan.fullReason,
        resumed,
        bytesSkipped: meter.bytesSkipped,
        summary: {
          bytesCopied: meter.bytesCopied,
          bytesMoved,
          changedBytes: tally.changedBytes,
          coalescedGaps: tally.coalescedGaps,
          bound: boundOf(tally.bytesMoved, tally.requests, this.options.targetPace || PAGE_BLOB_TARGETS),
          verifiedBytes: verified?.bytes ?? 0,
          ...(verified?.seed !== undefined ? { verifySeed: verified.seed, verifiedRanges: verified.ranges } : {}),
          bytesCleared: meter.bytesCleared,
          bytesRelayed: meter.bytesRelayed,
          requests: meter.requests,
          retries: meter.retries,
          seconds: meter.seconds(),
          targetBlobSnapshotUrl: target.snapshotUrl(blobSnapshot),
          importedResourceId,
        },
      };
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      if (failure !== undefined) {
        this.#targetState = undefined;
        meter.emit('revoking');
        await this.#closeGrants(pool, ctx.snapshotIndex, false);
        await this.#settleAbandoned();
      }
    }
  }

  /**
   * Starts listing a later step's operations (granting what it needs) while the current step runs. At most
   * three of the family's five grants are then held: the current step's two and the next step's source.
   */
  prefetch(plan: CopyPlan, pool: GrantPool, snapshotIndex: number, snapshotCount: number): StepPrefetch {
    const meter = new ProgressMeter(snapshotIndex, snapshotCount, undefined, this.#now);
    let closed = false;
    let ready = false;
    let listing: Prefetch<PageOp> | undefined;
    const ops = (async (): Promise<Prefetch<PageOp> | undefined> => {
      try {
        // Grants released by the step before the current one are gone before another is requested.
        await pool.idle();
        if (closed || this.#signal?.aborted) return undefined;
        const source = await pool.get(plan.source.id);
        const previous = plan.mode === 'delta' && plan.previous ? await pool.get(plan.previous.id) : undefined;
        if (closed || this.#signal?.aborted) return undefined;
        listing = new Prefetch(this.#planOps(plan, source, previous, meter), PREFETCH_OPS);
        ready = true;
        return listing;
      } catch {
        // The step requests again and reports what went wrong.
        return undefined;
      }
    })();
    const state: PrefetchState = {
      plan,
      meter,
      ops,
      get ready() {
        return ready && !closed;
      },
      close() {
        closed = true;
        listing?.close();
      },
    };
    return state;
  }

  async #closeGrants(pool: GrantPool, index: number, throwOnFailure: boolean): Promise<void> {
    const failed = await pool.closeAll();
    if (failed.length === 0) return;
    const message = revokeFailedMessage(failed);
    this.#notice(index, 'RevokeFailed', message);
    if (throwOnFailure) throw new DiskDeltaError(message, 'RevokeFailed', 'Run "Revoke Access" on the snapshot so it does not hold a SAS slot.');
  }

  /** Waits (briefly) for requests abandoned on timeout, so none lands after the step moves on. */
  async #settleAbandoned(): Promise<void> {
    if (this.#abandoned.size === 0) return;
    const all = Promise.allSettled([...this.#abandoned]);
    await Promise.race([all, sleep(this.policy.requestTimeoutMs)]);
  }

  async #prepareTarget(ctx: StepContext, meter: ProgressMeter): Promise<void> {
    const { plan, target, journal } = ctx;
    // After a step of this copy the target's state is known (this process holds the family's lock).
    const known = this.#targetState?.target === target ? this.#targetState : undefined;
    this.#targetState = undefined;
    const exists = known !== undefined || (await this.#request(meter, [], (signal) => target.exists({ signal }), false));
    if (!exists) {
      if (plan.mode !== 'base') {
        throw new DiskDeltaError(
          `The target blob ${plan.target.displayUrl} disappeared during the copy.`,
          'TargetMissing',
          'Copy the family again from its first snapshot.',
        );
      }
      const metadata = createdMetadata(plan, ctx.sourceDiskId);
      await this.#request(meter, [], (signal) => target.create(plan.blobSizeBytes, metadata, { signal }), false);
      // A fresh blob holds nothing the journal may have recorded.
      await journal.restartStep();
      this.#targetState = { target, metadata, sizeBytes: plan.blobSizeBytes };
      return;
    }
    let metadata = known?.metadata ?? (await this.#request(meter, [], (signal) => target.getMetadata({ signal }), false));
    if (inProgressSnapshot(metadata) !== plan.source.id) {
      const marked = markedInProgress(metadata, plan.source.id);
      await this.#request(meter, [], (signal) => target.setMetadata(marked, { signal }), false);
      metadata = marked;
    }
    const size = known?.sizeBytes ?? (await this.#request(meter, [], (signal) => target.size({ signal }), false));
    if (size !== plan.blobSizeBytes) await this.#request(meter, [], (signal) => target.resize(plan.blobSizeBytes, { signal }), false);
    this.#targetState = { target, metadata, sizeBytes: plan.blobSizeBytes };
    if (plan.mode === 'full' && !journal.hasPhase('clearedTarget')) {
      meter.emit('clearing');
      const targetRanges = windowedRanges(plan.blobSizeBytes, plan.windowBytes, (w) =>
        this.#listWithRetry(meter, [], w, (win, signal) => target.listRanges(win, { signal })),
      );
      const clears = (async function* (): AsyncGenerator<PageOp> {
        for await (const r of mergeAdjacentStream(targetRanges)) yield { offset: r.offset, length: r.length, op: 'clear' as const };
      })();
      await this.#pool(
        clears,
        async (op) => {
          await this.#request(meter, [], (signal) => target.clearPages(op.offset, op.length, { signal }), true, 0);
          meter.rangesDone += 1;
          meter.emit();
        },
        plan.source.name,
      );
      await journal.recordPhase('clearedTarget');
    }
  }

  /**
   * The plan's operations, streamed: listed window by window, merged across windows, chunked, and on a
   * differential step coalesced where requests bound the copy (coalesce.ts).
   */
  #planOps(plan: CopyPlan, source: SasGrant, previous: SasGrant | undefined, meter: ProgressMeter): AsyncIterable<CoalescedOp> {
    const ops = this.#listOps(plan, source, previous, meter);
    const pace = this.options.targetPace;
    if (!pace || this.options.coalesce === false || plan.mode !== 'delta' || !previous) return ops;
    return coalesceStream(ops, pace, plan.maxChunkBytes);
  }

  async *#listOps(plan: CopyPlan, source: SasGrant, previous: SasGrant | undefined, meter: ProgressMeter): AsyncGenerator<PageOp, void, undefined> {
    let ops: AsyncIterable<PageOp>;
    if (plan.mode === 'delta' && previous) {
      const diff = windowedRanges(plan.blobSizeBytes, plan.windowBytes, (w) =>
        this.#listWithRetry(meter, [source, previous], w, (win, signal) => source.source().listDiff(previous.source(), win, { signal })),
      );
      ops = diffOps(diff, plan.maxChunkBytes);
    } else {
      const ranges = windowedRanges(plan.blobSizeBytes, plan.windowBytes, (w) =>
        this.#listWithRetry(meter, [source], w, (win, signal) => source.source().listRanges(win, { signal })),
      );
      ops = writeOps(ranges, plan.maxChunkBytes);
    }
    // After a resize (within the 4 TB side) the old footer now lies inside the disk and the new one is at the
    // new end; make sure both hold the source's bytes even if the diff does not report them.
    const footers: PageRange[] = [];
    if (plan.mode === 'delta' && plan.previous && plan.previous.sizeBytes !== plan.source.sizeBytes) {
      footers.push({ offset: plan.previous.sizeBytes, length: VHD_FOOTER_BYTES }, { offset: plan.source.sizeBytes, length: VHD_FOOTER_BYTES });
    }
    // Footers go into the stream in offset order (the journal's watermark relies on it), unless an operation covers them.
    let next = 0;
    for await (const op of ops) {
      while (next < footers.length && footers[next]!.offset < op.offset) yield { ...footers[next++]!, op: 'write' };
      while (next < footers.length && footers[next]!.offset >= op.offset && rangeEnd(footers[next]!) <= rangeEnd(op)) next += 1;
      yield op;
    }
    while (next < footers.length) yield { ...footers[next++]!, op: 'write' };
    meter.bytesTotalIsEstimate = false;
  }

  /** Runs the operations; returns the bytes this run wrote (coalesced gaps included). */
  async #runOps(ctx: StepContext, meter: ProgressMeter, ops: AsyncIterable<CoalescedOp>, source: SasGrant, tally: CoalesceTally): Promise<number> {
    const { target, journal, plan } = ctx;
    let fromUrlRefused = false;
    let bytesMoved = 0;
    // Operations in plan (offset) order, until every one before them is done: the head's end is the watermark.
    const order: Array<{ end: number; done: boolean }> = [];
    let head = 0;
    let watermark = 0;
    const advance = (): number | undefined => {
      const before = watermark;
      while (head < order.length && order[head]!.done) watermark = order[head++]!.end;
      if (head > 1024) {
        order.splice(0, head);
        head = 0;
      }
      return watermark > before ? watermark : undefined;
    };
    const scheduled = (async function* (): AsyncGenerator<CoalescedOp & { slot: { end: number; done: boolean } }> {
      for await (const op of ops) {
        tallyOp(tally, op);
        if (op.op === 'write') meter.bytesTotal += op.length;
        if (journal.isDone(op.offset, op.length)) {
          order.push({ end: op.offset + op.length, done: true });
          if (op.op === 'write') {
            meter.bytesDone += op.length;
            meter.bytesSkipped += op.changedBytes ?? op.length;
          }
          meter.rangesDone += 1;
          continue;
        }
        const slot = { end: op.offset + op.length, done: false };
        order.push(slot);
        yield { ...op, slot };
      }
      // Every operation is counted now, whether listed here or ahead of the step: the step's total is final.
      meter.bytesTotalIsEstimate = false;
    })();
    const finish = async (op: PageOp & { slot: { done: boolean } }): Promise<void> => {
      op.slot.done = true;
      await journal.recordDone(op.offset, op.length, advance());
    };
    await this.#pool(
      scheduled,
      async (op) => {
        if (op.op === 'clear') {
          meter.emit('clearing');
          await this.#request(meter, [], (signal) => target.clearPages(op.offset, op.length, { signal }), true, 0);
          await finish(op);
          meter.bytesCleared += op.length;
        } else {
          if (meter.phase !== 'copying') meter.phase = 'copying';
          let viaUrl = !fromUrlRefused;
          if (viaUrl) {
            try {
              await this.#request(
                meter,
                [source],
                (signal) => target.putPagesFromUrl(source.url(), op.offset, op.offset, op.length, { signal }),
                true,
                op.length,
              );
            } catch (error) {
              if (classifyError(error).kind !== 'sourceRefused') throw error;
              if (!fromUrlRefused) {
                this.#notice(
                  ctx.snapshotIndex,
                  'SourceRefusedFromUrl',
                  `The target refused to copy from ${plan.source.name} by URL (CopySourceCannotBeIncrementalCopyBlob); the pages are read and written through this machine instead (its bandwidth; bytesRelayed counts them).`,
                );
              }
              fromUrlRefused = true;
              viaUrl = false;
            }
          }
          if (!viaUrl) {
            // The pages pass through this machine: the bytes held at once are bounded, whatever the concurrency.
            await this.#relayBudget.take(op.length);
            try {
              const data = await this.#request(meter, [source], (signal) => source.source().read(op.offset, op.length, { signal }), false);
              await this.#request(meter, [], (signal) => target.putPages(op.offset, data, { signal }), true, data.length);
            } finally {
              this.#relayBudget.give(op.length);
            }
            meter.bytesRelayed += op.length;
          }
          await finish(op);
          // Bytes copied count what changed; the gaps a coalesced write rewrote count in bytesMoved only.
          meter.bytesCopied += op.changedBytes ?? op.length;
          bytesMoved += op.length;
          meter.moved(op.length);
        }
        meter.rangesDone += 1;
        meter.emit();
      },
      plan.source.name,
    );
    return bytesMoved;
  }

  /**
   * Runs `work` over a stream with at most ~2x the concurrency limit pending (the limiter bounds requests;
   * this bounds memory). After the first failure nothing new starts; what is in flight finishes, and every
   * failure is reported together.
   */
  async #pool<T extends PageOp>(
    items: AsyncIterable<T>,
    work: (item: T) => Promise<void>,
    snapshotName: string,
    maxPending = this.limiter.max * 2,
  ): Promise<void> {
    const pending = new Set<Promise<void>>();
    const failures: OperationFailure[] = [];
    let listingError: unknown;
    try {
      for await (const item of items) {
        if (this.#signal?.aborted || failures.length > 0) break;
        while (pending.size >= maxPending) await Promise.race(pending);
        if (this.#signal?.aborted || failures.length > 0) break;
        const p: Promise<void> = work(item)
          .catch((error: unknown) => {
            const c = classifyError(error);
            failures.push({
              range: { offset: item.offset, length: item.length },
              op: item.op,
              code: c.code,
              message: redact(error instanceof Error ? error.message : String(error)),
            });
          })
          .finally(() => pending.delete(p));
        pending.add(p);
      }
    } catch (error) {
      listingError = error;
    }
    await Promise.all(pending);
    throwIfAborted(this.#signal);
    if (listingError !== undefined) throw listingError;
    if (failures.length > 0) throw new CopyFailedError(failures, snapshotName);
  }

  /**
   * One data-plane request with retries: a slot from the AIMD limiter, a per-request timeout, backoff that
   * honours Retry-After, and a fresh SAS when the source's was refused as expired.
   */
  async #request<T>(
    meter: ProgressMeter,
    grants: readonly SasGrant[],
    op: (signal: AbortSignal) => Promise<T>,
    countAsRequest: boolean,
    /** Bytes the request moves into or out of the target blob: paced under the blob's targets. */
    pacedBytes?: number,
  ): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      for (const g of grants) await g.fresh(this.#signal);
      if (pacedBytes !== undefined && this.#pacer) {
        const wait = this.#pacer.reserve(pacedBytes, Date.now());
        if (wait > 0) await sleep(wait, this.#signal);
      }
      const generations = grants.map((g) => g.generation);
      const ticket = await this.limiter.acquire(this.#signal);
      if (countAsRequest) meter.requests += 1;
      let error: unknown;
      try {
        const result = await withTimeout(op, this.policy.requestTimeoutMs, this.#signal, (p) => this.#abandon(p));
        this.limiter.release(ticket, 'success');
        return result;
      } catch (e) {
        error = e;
      }
      const c = classifyError(error);
      this.limiter.release(ticket, c.kind === 'throttled' ? 'throttled' : 'other');
      await this.#retryOrThrow(error, c, attempt, dataPlaneScope(grants.length), meter, grants, generations);
    }
  }

  /**
   * After a failed attempt, carries out the one retry decision (`retryDecision`): throws when the operation
   * is cancelled or may not be retried, else counts the retry, renews refused SAS grants and backs off.
   */
  async #retryOrThrow(
    error: unknown,
    failure: ClassifiedError,
    attempt: number,
    scope: RetryScope,
    meter: ProgressMeter,
    grants: readonly SasGrant[] = [],
    generations: readonly number[] = [],
  ): Promise<void> {
    const decision = retryDecision(failure, attempt, this.policy, scope, this.#signal, this.#random);
    if (decision.action === 'abort') throw abortError();
    if (decision.action === 'fail') throw error;
    meter.retries += 1;
    if (decision.renewSas) await Promise.all(grants.map((g, i) => g.renew(generations[i]!, this.#signal)));
    await sleep(decision.delayMs, this.#signal);
  }

  #abandon(p: Promise<unknown>): void {
    this.#abandoned.add(p);
    void p.finally(() => this.#abandoned.delete(p));
  }

  /**
   * A window's ranges with retries: a listing that fails part-way is listed again from the end of the last
   * range already passed on, so nothing is yielded twice or lost.
   */
  async *#listWithRetry<T extends PageRange>(
    meter: ProgressMeter,
    grants: readonly SasGrant[],
    window: ByteWindow,
    list: (window: ByteWindow, signal: AbortSignal) => AsyncIterable<T>,
  ): AsyncGenerator<T, void, undefined> {
    const end = window.offset + window.length;
    let from = window.offset;
    for (let attempt = 0; from < end;) {
      for (const g of grants) await g.fresh(this.#signal);
      const generations = grants.map((g) => g.generation);
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      this.#signal?.addEventListener('abort', onAbort, { once: true });
      const iterator = list({ offset: from, length: end - from }, controller.signal)[Symbol.asyncIterator]();
      let error: unknown;
      try {
        for (;;) {
          const next = await withTimeout(
            () => iterator.next(),
            this.policy.requestTimeoutMs,
            this.#signal,
            (p) => this.#abandon(p),
          );
          if (next.done) return;
          const r = next.value;
          const start = Math.max(r.offset, from);
          const stop = Math.min(rangeEnd(r), end);
          if (stop <= start) continue;
          from = stop;
          attempt = 0;
          yield start === r.offset && stop === rangeEnd(r) ? r : { ...r, offset: start, length: stop - start };
        }
      } catch (e) {
        error = e;
      } finally {
        this.#signal?.removeEventListener('abort', onAbort);
      }
      controller.abort();
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      await this.#retryOrThrow(error, classifyError(error), attempt, dataPlaneScope(grants.length), meter, grants, generations);
      attempt += 1;
    }
  }

  /**
   * Compares source and target by SHA-256 of what each returns for the same bytes: over the plan's
   * operations (verify `changed`) or over everything either side has allocated (verify `full`).
   */
  async #verify(ctx: StepContext, meter: ProgressMeter, source: SasGrant, previous: SasGrant | undefined): Promise<VerifyOutcome> {
    const { plan, target } = ctx;
    const percent = samplePercent(plan.verify);
    const seed = percent === undefined ? undefined : (this.options.verifySeed ?? newSampleSeed(this.#random)) >>> 0;
    const picked = percent === undefined || seed === undefined ? undefined : sampleSelector(seed, percent);
    if (seed !== undefined)
      this.#notice(ctx.snapshotIndex, 'VerifySample', `Verifying a ${percent}% sample of the changed ranges of ${plan.source.name} (seed ${seed}).`);
    const outcome = { bytes: 0, ranges: 0, seed };
    let ranges: AsyncIterable<PageRange>;
    // A full copy wrote over a blob that held other data: compare everything either side has allocated.
    if (plan.verify === 'full' || plan.mode === 'full') {
      const src = windowedRanges(plan.blobSizeBytes, plan.windowBytes, (w) =>
        this.#listWithRetry(meter, [source], w, (win, signal) => source.source().listRanges(win, { signal })),
      );
      const tgt = windowedRanges(plan.blobSizeBytes, plan.windowBytes, (w) =>
        this.#listWithRetry(meter, [], w, (win, signal) => target.listRanges(win, { signal })),
      );
      ranges = unionStream(src, tgt);
    } else {
      const throwaway = new ProgressMeter(ctx.snapshotIndex, ctx.snapshotCount, undefined, this.#now);
      // The plan's requests, coalesced as the copy wrote them: every changed byte, and the gaps between
      // neighbours read in the same request, so verification too makes one request where the copy made one.
      ranges = this.#planOps(plan, source, previous, throwaway);
    }
    // Reads of 1 MiB: both sides' bytes sit in memory until hashed, so smaller reads with more in
    // flight keep memory flat (16 pairs: 32 MiB) at the same speed.
    const chunked = (async function* (): AsyncGenerator<PageOp> {
      for await (const r of ranges) {
        // A sample picks whole ranges (a write's chunks), by offset and seed alone.
        if (picked && !picked(r.offset)) continue;
        outcome.bytes += r.length;
        outcome.ranges += 1;
        for (const c of iterateChunks({ offset: r.offset, length: r.length }, Math.min(plan.maxChunkBytes, VERIFY_READ_BYTES)))
          yield { ...c, op: 'write' as const };
      }
    })();
    const mismatches: PageRange[] = [];
    const hash = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
    await this.#pool(
      chunked,
      async (chunk) => {
        const [a, b] = await Promise.all([
          this.#request(meter, [source], (signal) => source.source().read(chunk.offset, chunk.length, { signal }), false),
          // The target's reads count against the same per-blob targets as its writes (the next step's writes must not meet 503s).
          this.#request(meter, [], (signal) => target.read(chunk.offset, chunk.length, { signal }), false, chunk.length),
        ]);
        if (a.length !== chunk.length || b.length !== chunk.length || hash(a) !== hash(b)) mismatches.push({ offset: chunk.offset, length: chunk.length });
        meter.emit();
      },
      plan.source.name,
      Math.max(1, this.options.verifyConcurrency ?? 16),
    );
    if (mismatches.length > 0) {
      mismatches.sort((x, y) => x.offset - y.offset);
      throw new VerificationFailedError(mismatches.slice(0, 10), plan.source.name);
    }
    return outcome;
  }

  async #import(ctx: StepContext, meter: ProgressMeter, sourceUri: string): Promise<string> {
    const { plan, account } = ctx;
    const parts = parseResourceId(account.id);
    const resourceGroup = plan.import.resourceGroup ?? parts.resourceGroup;
    const name = plan.import.name?.(plan.source) ?? importName(plan.source.name);
    const tags = { diskdelta_source: plan.source.id, diskdelta_family: plan.familyId };
    // Import takes the blob snapshot URL without SAS plus the account id, in the account's region — docs/azure-behaviour.md#import-and-upload.
    const common = { subscriptionId: parts.subscriptionId, resourceGroup, name, location: account.location, sourceUri, storageAccountId: account.id, tags };
    return this.#armCall(meter, async (signal) => {
      if (plan.import.kind === 'disk') return (await this.compute.createDisk({ ...common, createOption: 'Import', sku: 'Standard_LRS' }, { signal })).id;
      return (await this.compute.createSnapshot({ ...common, createOption: 'Import', incremental: false }, { signal })).id;
    });
  }

  /** ARM long-running calls: retried on throttling and transient faults, but never cut short by a request timeout. */
  async #armCall<T>(meter: ProgressMeter, op: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await op(this.#signal);
      } catch (error) {
        await this.#retryOrThrow(error, classifyError(error), attempt, ARM_SCOPE, meter);
      }
    }
  }
}

/** Default name of an imported snapshot or disk: the source snapshot's, suffixed, within Azure's 80 characters. */
export function importName(sourceName: string): string {
  return `${sourceName.slice(0, 75)}-copy`;
}
