/**
 * Continuous protection: declarative DR policies (`disk-delta.policy.yaml`) that keep disks copied to another
 * region within an RPO. `loadPolicyFile` validates a file against the shipped schema; `runProtection` makes
 * one pass; `protectionStatus` reports; `runDrill` proves a restore; `scheduleDefinition` writes the
 * scheduler definitions that run it.
 */
export {
  DEFAULT_POLICY_CONTAINER,
  formatPath,
  loadPolicyFile,
  parseDuration,
  parsePolicyText,
  POLICY_SCHEMA,
  PolicyError,
  SUPPORTED_KEYWORDS,
  validateAgainstSchema,
} from './policy';
export type { PolicyFile, PolicyProblem, ProtectionPolicy, SchemaNode, VerifyPolicy } from './policy';
export type { BlobLocation, HeldLease, Lease, ProtectionStorage, TargetPoint, TargetPoints } from './ports';
export { claimFamily, LEASE_SECONDS, lockBlobName, RENEW_EVERY_MS } from './claim';
export type { FamilyClaim } from './claim';
export { inShard, parseShard, selectDisks, shardOf } from './selection';
export type { Shard } from './selection';
export { pointTime, sourceSnapshotsToPrune, targetPointsToPrune } from './retention';
export { azureNow, familyOf, importedIdFor, pointName, resolveScopes, runProtection, summarise } from './run';
export type { DiskAction, DiskOutcome, PolicyScope, ProtectEnvironment, RunOptions, RunSummary } from './run';
export { AT_RISK_FRACTION, DEFAULT_PRICES, protectionStatus, rpoBadge } from './status';
export type { Prices, RpoBadge, StatusLine } from './status';
export { drillMarkdown, runDrill } from './drill';
export { sampleRanges, verifySample } from './verify';
export type { SampleCheck } from './verify';
export type { DrillEvidence, DrillResult } from './drill';
export { scheduleDefinition, scheduleInterval } from './schedule';
export type { ScheduleKind } from './schedule';
