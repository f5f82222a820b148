import crypto from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Extent } from './extentMap';
import type { LeaseRecord } from './leases';
import type { SyntheticSource } from './pageLog';

export interface BlobSnapshot {
  readonly snapshot: string;
  readonly size: number;
  readonly extents: Extent[];
  readonly created: number;
  /**
   * The metadata the snapshot keeps: the base blob's when it was taken, or the x-ms-meta-* of the Snapshot
   * Blob request (docs/azure-behaviour.md#blob-snapshots-as-protected-points). Absent in state saved by older versions.
   */
  readonly metadata?: Record<string, string>;
}

export interface PageBlob {
  name: string;
  size: number;
  extents: Extent[];
  created: number;
  lastModified: number;
  etag: string;
  sequenceNumber: number;
  contentType: string;
  metadata: Record<string, string>;
  snapshots: BlobSnapshot[];
  lease?: LeaseRecord;
}

export interface Container {
  name: string;
  created: number;
  etag: string;
  blobs: Record<string, PageBlob>;
}

export interface StorageAccountState {
  name: string;
  region: string;
  resourceGroup: string;
  key: string;
  containers: Record<string, Container>;
}

export interface CreationData {
  createOption: string;
  sourceResourceId?: string;
  sourceUniqueId?: string;
  sourceUri?: string;
  storageAccountId?: string;
  uploadSizeBytes?: number;
}

export interface ManagedDisk {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  uniqueId: string;
  familyId: string;
  sizeBytes: number;
  sku: string;
  creationData: CreationData;
  timeCreated: number;
  diskState: string;
  extents: Extent[];
  tags: Record<string, string>;
  osType?: string;
  /** creation times of incremental snapshots, for the 7-per-5-minutes rule */
  snapshotTimes: number[];
  /** ETag and Last-Modified of the page blob behind the disk's SAS; they change with each write */
  blobEtag?: string;
  blobLastModified?: number;
}

export interface ManagedSnapshot {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  uniqueId: string;
  incremental: boolean;
  familyId?: string;
  sizeBytes: number;
  sku: string;
  creationData: CreationData;
  timeCreated: number;
  extents: Extent[];
  tags: Record<string, string>;
  /** for CopyStart: the copy finishes at `copyDoneAt` */
  copyStartedAt?: number;
  copyDoneAt?: number;
  copyError?: { errorCode: string; errorMessage: string };
  osType?: string;
}

export interface AccessGrant {
  id: string;
  account: string;
  container: string;
  resourceId: string;
  kind: 'disk' | 'snapshot';
  access: 'Read' | 'Write';
  expiresAt: number;
  key: string;
  familyId?: string;
  snapshotTime?: string;
}

export interface EmulatorState {
  version: 1;
  token: string;
  tenantId: string;
  subscriptionId: string;
  regions: string[];
  resourceGroups: Record<string, { name: string; location: string }>;
  accounts: Record<string, StorageAccountState>;
  disks: Record<string, ManagedDisk>;
  snapshots: Record<string, ManagedSnapshot>;
  grants: Record<string, AccessGrant>;
  synthetic: Record<string, SyntheticSource>;
  nextSyntheticId: number;
  clockOffsetMs: number;
  /** identity of cleared runs: each Clear Pages takes a fresh span, as writes take log space */
  clearCursor: number;
}

export function guid(): string {
  return crypto.randomUUID();
}

export function newState(regions: string[]): EmulatorState {
  const subscriptionId = guid();
  const state: EmulatorState = {
    version: 1,
    token: crypto.randomBytes(24).toString('base64url'),
    tenantId: guid(),
    subscriptionId,
    regions,
    resourceGroups: {},
    accounts: {},
    disks: {},
    snapshots: {},
    grants: {},
    synthetic: {},
    nextSyntheticId: 1,
    clockOffsetMs: 0,
    clearCursor: 0,
  };
  regions.forEach((region, i) => {
    const rg = `storage-${region}`;
    state.resourceGroups[rg.toLowerCase()] = { name: rg, location: region };
    for (const suffix of ['a', 'b']) {
      const name = `dd${region.replace(/[^a-z0-9]/g, '').slice(0, 16)}${i}${suffix}`.slice(0, 24);
      state.accounts[name] = { name, region, resourceGroup: rg, key: crypto.randomBytes(64).toString('base64'), containers: {} };
    }
  });
  return state;
}

const STATE_FILE = 'state.json';

export function loadState(dir: string): EmulatorState | undefined {
  const file = path.join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as EmulatorState;
}

/** Snapshot extent lists never change once taken, so their packed form is computed once. */
const packedSnapshots = new WeakMap<readonly Extent[], string>();

function packExtents(list: readonly Extent[]): string {
  const f = new Float64Array(list.length * 4);
  let i = 0;
  for (const e of list) {
    f[i++] = e.start;
    f[i++] = e.end;
    f[i++] = e.src;
    f[i++] = e.delta;
  }
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

/** Extents are stored packed (base64 of float64 quadruples): state files stay compact for million-extent disks. */
export function saveState(dir: string, state: EmulatorState): void {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.tmp`;
  const text = JSON.stringify(state, function (this: Record<string, unknown>, key, value: unknown) {
    if (key !== 'extents' || !Array.isArray(value)) return value;
    const list = value as Extent[];
    const immutable = 'snapshot' in this || 'incremental' in this;
    let packed = immutable ? packedSnapshots.get(list) : undefined;
    if (packed === undefined) {
      packed = packExtents(list);
      if (immutable) packedSnapshots.set(list, packed);
    }
    return { packed64: packed };
  });
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function unpackState(state: EmulatorState): EmulatorState {
  const unpack = (v: unknown): Extent[] => {
    const packed = (v as { packed64?: string }).packed64;
    if (packed === undefined) return v as Extent[];
    const bytes = Buffer.from(packed, 'base64');
    const f = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const out: Extent[] = [];
    for (let i = 0; i < f.length; i += 4) out.push({ start: f[i]!, end: f[i + 1]!, src: f[i + 2]!, delta: f[i + 3]! });
    return out;
  };
  for (const a of Object.values(state.accounts))
    for (const c of Object.values(a.containers))
      for (const b of Object.values(c.blobs)) {
        b.extents = unpack(b.extents);
        b.snapshots = b.snapshots.map((s) => ({ ...s, extents: unpack(s.extents) }));
      }
  state.clearCursor ??= 0;
  for (const d of Object.values(state.disks)) d.extents = unpack(d.extents);
  for (const s of Object.values(state.snapshots)) s.extents = unpack(s.extents);
  return state;
}

/** A fixed-VHD footer (the "conectix" cookie) for a disk of `size` bytes. */
export function vhdFooter(size: number, uniqueId: string, createdMs: number): Buffer {
  const f = Buffer.alloc(512);
  f.write('conectix', 0, 'ascii');
  f.writeUInt32BE(2, 8);
  f.writeUInt32BE(0x00010000, 12);
  f.writeBigUInt64BE(0xffffffffffffffffn, 16);
  f.writeUInt32BE(Math.max(0, Math.floor((createdMs - Date.UTC(2000, 0, 1)) / 1000)) >>> 0, 24);
  f.write('ddem', 28, 'ascii');
  f.writeUInt32BE(0x00010000, 32);
  f.write('Wi2k', 36, 'ascii');
  f.writeBigUInt64BE(BigInt(size), 40);
  f.writeBigUInt64BE(BigInt(size), 48);
  // CHS geometry per the VHD spec's algorithm.
  const totalSectors = Math.min(Math.floor(size / 512), 65535 * 16 * 255);
  let spt: number;
  let heads: number;
  let cth: number;
  if (totalSectors >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(totalSectors / spt);
  } else {
    spt = 17;
    cth = Math.floor(totalSectors / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
  }
  f.writeUInt16BE(Math.min(65535, Math.floor(cth / heads)), 56);
  f.writeUInt8(heads, 58);
  f.writeUInt8(spt, 59);
  f.writeUInt32BE(2, 60);
  Buffer.from(uniqueId.replace(/-/g, ''), 'hex').copy(f, 68);
  let sum = 0;
  for (const b of f) sum += b;
  f.writeUInt32BE(~sum >>> 0, 64);
  return f;
}

export function isFixedVhdFooter(footer: Buffer, blobSize: number): boolean {
  if (footer.length !== 512 || footer.toString('ascii', 0, 8) !== 'conectix') return false;
  if (footer.readUInt32BE(60) !== 2) return false;
  const dataSize = blobSize - 512;
  return dataSize > 0 && dataSize % (1024 * 1024) === 0;
}
