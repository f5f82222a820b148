/**
 * The cross-region copy engine: differential (ChainCopy) and Azure-native (NativeCopy).
 *
 * Copy (and resume - the same call): `new ChainCopy(compute, copyDataPlane).run({ snapshots, store, journalFile,
 * lockDirectory, upTo | only, verify, import, concurrency, signal, onProgress, onNotice })`. It reads what the
 * target blob already holds from its metadata, continues an interrupted step from the journal, and resolves
 * `{ status: 'completed' | 'upToDate' | 'cancelled', steps, summaries }`; aborting `signal` cancels (not an
 * error). Failures reject with a DiskDeltaError (CopyFailedError / VerificationFailedError carry details).
 */
export { ChainCopy, validateFamily } from './chain';
export type { ChainCopyRequest, ChainCopyResult } from './chain';
export { CopyExecutor, CopyFailedError, importName, TARGET_METADATA, VerificationFailedError } from './executor';
export type { CopyExecutorOptions, OperationFailure, SnapshotCopyResult, StepContext } from './executor';
export { CopyJournal, defaultJournalPath, defaultStateDirectory, FamilyLock, JOURNAL_VERSION } from './journal';
export { describeNativeStatus, NativeCopy } from './native';
export type { NativeCopyRequest, NativeCopyResult, NativeCopyStatus, NativeCopyStep } from './native';
export { chooseMode, crossesFourTiBBoundary, DEFAULT_WINDOW_BYTES, planId, targetBlobName } from './plan';
export type { CopyMode, CopyPlan, CopyTargetRef, FullCopyReason, ImportOptions, PageOp, SnapshotRef, VerifyMode } from './plan';
export type { CopyNotice, CopyPhase, CopyProgress, NoticeListener, ProgressListener, SnapshotCopySummary } from './progress';
export { AdaptiveConcurrency, AZURE_TARGET_PACE, BlobPacer, classifyError, DEFAULT_RETRY_POLICY, PAGE_BLOB_TARGETS } from './retry';
export type { ClassifiedError, ErrorClass, RetryPolicy } from './retry';
