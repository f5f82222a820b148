/** A disk written in phases with four snapshots (changed and cleared ranges, ranges over 4 MiB off 0, the end's neighbourhood). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { SnapshotInfo } from '../../../src/core/model';
import type { ChainCopyRequest } from '../../../src/core/copy';
import type { FakeDisk, MemoryAzureOptions } from './memoryAzure';
import { diffStores, MemoryAzure, PageStore, snapshotStore, targetStore } from './memoryAzure';

export const MiB = 1024 * 1024;
export const DISK_BYTES = 48 * MiB;
const CHUNK = 4 * MiB;

export interface Scenario {
  readonly azure: MemoryAzure;
  readonly disk: FakeDisk;
  readonly snapshots: SnapshotInfo[];
  readonly dir: string;
  readonly journalFile: string;
  request(overrides?: Partial<ChainCopyRequest>): ChainCopyRequest;
  cleanup(): void;
}

export function writePhases(disk: FakeDisk): SnapshotInfo[] {
  disk.write(0, 64 * 1024, 1);
  disk.write(3 * MiB + 512, 9 * MiB, 2);
  disk.write(20 * MiB, MiB, 3);
  disk.write(DISK_BYTES - 1024, 1024, 4);
  const s1 = disk.snapshot();
  disk.write(5 * MiB, MiB, 5);
  disk.clear(20 * MiB, MiB / 2);
  disk.write(30 * MiB, CHUNK + 512, 6);
  const s2 = disk.snapshot();
  disk.clear(3 * MiB + 512, 2 * MiB);
  disk.write(40 * MiB, 8 * MiB - 512, 7);
  const s3 = disk.snapshot();
  for (let i = 0; i < 16; i += 1) disk.write(10 * MiB + i * 64 * 1024, 512, 100 + i);
  disk.clear(30 * MiB, CHUNK + 512);
  disk.write(DISK_BYTES - 512, 512, 8);
  const s4 = disk.snapshot();
  return [s1, s2, s3, s4];
}

export function makeScenario(options: MemoryAzureOptions = {}, dir?: string): Scenario {
  const azure = new MemoryAzure(options);
  const disk = azure.disk('vm-data', DISK_BYTES);
  const snapshots = writePhases(disk);
  const workDir = dir ?? mkdtempSync(path.join(scratchDirectory(), 'dd-copy-'));
  const journalFile = path.join(workDir, 'copy.jsonl');
  return {
    azure,
    disk,
    snapshots,
    dir: workDir,
    journalFile,
    request: (overrides = {}) => ({
      snapshots,
      store: targetStore(azure),
      journalFile,
      windowBytes: MiB,
      concurrency: 8,
      retry: { baseDelayMs: 1, maxDelayMs: 4, maxRetryAfterMs: 4, requestTimeoutMs: 200 },
      now: azure.now,
      random: azure.random,
      ...overrides,
    }),
    cleanup: () => rmSync(workDir, { recursive: true, force: true }),
  };
}

/** The least requests a step can make: one per <= 4 MiB chunk of each merged changed range, one per merged cleared range. */
export function minimalRequests(azure: MemoryAzure, source: SnapshotInfo, previous: SnapshotInfo | undefined): { requests: number; bytes: number } {
  const newer = snapshotStore(azure, source);
  const whole = { offset: 0, length: newer.size };
  const ranges = previous ? diffStores(newer, snapshotStore(azure, previous), whole) : newer.ranges(whole).map((r) => ({ ...r, kind: 'changed' as const }));
  let requests = 0;
  let bytes = 0;
  for (const r of ranges) {
    if (r.kind === 'cleared') requests += 1;
    else {
      requests += Math.ceil(r.length / CHUNK);
      bytes += r.length;
    }
  }
  return { requests, bytes };
}

/** tmpfs when there is one: the journal fsyncs a lot and durability across a power cut is not what these tests check. */
export function scratchDirectory(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

export function emptyStore(size: number): PageStore {
  return new PageStore(size);
}
