/**
 * The cross-region copy engine: differential (ChainCopy) and Azure-native (NativeCopy).
 *
 * Copy (and resume - the same call): `new ChainCopy(compute, copyDataPlane).run({ snapshots, store, journalFile,
 * lockDirectory, upTo | only, verify, import, concurrency, signal, onProgress, onNotice })`. It reads what the
 * target blob already holds from its metadata, continues an interrupted step from the journal, and resolves
 * `{ status: 'completed' | 'upToDate' | 'cancelled', steps, summaries }`; aborting `signal` cancels (not an
 * error). Failures reject with a DiskDeltaError (CopyFailedError / VerificationFailedError carry details).
 *
 * Front ends start copies through `start.ts` (`prepareDifferentialCopy(...).run(...)`, `runNativeCopy`), which names
 * the target blob, journal and lock, resolves the target account's endpoint and paces the copy, and show progress
 * with `CopyProgressTracker` + `formatCopyProgress`.
 */
export { ChainCopy, validateFamily } from './chain';
export type { ChainCopyRequest, ChainCopyResult } from './chain';
export { CopyExecutor, CopyFailedError, importName, VerificationFailedError } from './executor';
export type { CopyExecutorOptions, OperationFailure, SnapshotCopyResult, StepContext } from './executor';
export { CopyJournal, defaultJournalPath, defaultStateDirectory, FamilyLock, JOURNAL_VERSION } from './journal';
export { describeNativeStatus, NativeCopy } from './native';
export type { NativeCopyRequest, NativeCopyResult, NativeCopyStatus, NativeCopyStep } from './native';
export { recordedPoint, TARGET_METADATA } from './targetMetadata';
export type { RecordedPoint } from './targetMetadata';
export { chooseMode, crossesFourTiBBoundary, DEFAULT_WINDOW_BYTES, planId, targetBlobName } from './plan';
export type { CopyMode, CopyPlan, CopyTargetRef, FullCopyReason, ImportOptions, PageOp, SnapshotRef, VerifyMode } from './plan';
export { newSampleSeed, parseVerifyMode, samplePercent, sampleSelector } from './sample';
export { CopyProgressTracker, countOf, formatCopyProgress, secondsAtBlobLimit } from './progress';
export type { CopyNotice, CopyPhase, CopyProgress, NoticeListener, OverallProgress, ProgressListener, SnapshotCopySummary } from './progress';
export { DEFAULT_CONTAINER, nativeCopyName, prepareDifferentialCopy, previewDifferentialCopy, runNativeCopy, unreachableTarget } from './start';
export type { CopyEvents, CopyPorts, CopyPreview, DifferentialCopyOptions, NativeCopyOptions, PreparedDifferentialCopy } from './start';
export { AdaptiveConcurrency, AZURE_TARGET_PACE, BlobPacer, classifyError, DEFAULT_RETRY_POLICY, PAGE_BLOB_TARGETS } from './retry';
export type { ClassifiedError, ErrorClass, RetryPolicy } from './retry';
