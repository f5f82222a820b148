import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './context';
import { managedSasSignature } from './blobService';
import { overlay, overwriteInPlace, truncate, usedBytes, firstEndingAfter, type Extent } from './extentMap';
import { readExtents } from './pageLog';
import { mergeFaults } from './faults';
import { guid, isFixedVhdFooter, vhdFooter, type AccessGrant, type CreationData, type ManagedDisk, type ManagedSnapshot } from './state';

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const GIB = 1024 ** 3;
const MIB = 1024 * 1024;
const FIVE_MINUTES = 5 * 60_000;
// Limits from docs/azure-behaviour.md#limits: 7 incremental snapshots per disk per 5 minutes, 500 per disk, 5 SAS per family.
export const LIMITS = { snapshotsPer5Minutes: 7, snapshotsPerDisk: 500, sasPerFamily: 5 };
const ZRS_REGIONS = new Set([
  'eastus', 'eastus2', 'westus2', 'westus3', 'centralus', 'southcentralus', 'northeurope', 'westeurope', 'uksouth',
  'francecentral', 'germanywestcentral', 'swedencentral', 'japaneast', 'australiaeast', 'southeastasia', 'canadacentral',
]);
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

interface Operation {
  id: string;
  doneAt: number;
  result?: unknown;
  error?: { code: string; message: string };
  started: number;
}

const operations = new Map<string, Operation>();

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-ms-request-id': crypto.randomUUID(),
    'x-ms-correlation-request-id': crypto.randomUUID(),
    'x-ms-ratelimit-remaining-subscription-reads': '11999',
    'x-ms-ratelimit-remaining-subscription-writes': '1199',
    ...headers,
  });
  res.end(text);
}

export function sendArmError(res: ServerResponse, err: ArmError): void {
  json(res, err.status, { error: { code: err.code, message: err.message } });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000+00:00');
}

function snapshotTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

function rgName(ctx: EmulatorContext, name: string, location?: string): string {
  const key = name.toLowerCase();
  const existing = ctx.state.resourceGroups[key];
  if (existing) return existing.name;
  // Resource groups are created implicitly on first use (and names are case-insensitive).
  ctx.state.resourceGroups[key] = { name, location: location ?? ctx.state.regions[0]! };
  return name;
}

function resourceId(ctx: EmulatorContext, rg: string, kind: 'disks' | 'snapshots', name: string): string {
  return `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/${kind}/${name}`;
}

function activeGrants(ctx: EmulatorContext, id: string): AccessGrant[] {
  const now = ctx.now();
  return Object.values(ctx.state.grants).filter((g) => g.resourceId === id && g.expiresAt > now);
}

function pruneGrants(ctx: EmulatorContext): void {
  const now = ctx.now();
  for (const [k, g] of Object.entries(ctx.state.grants)) if (g.expiresAt <= now) delete ctx.state.grants[k];
}

function diskState(ctx: EmulatorContext, d: ManagedDisk): string {
  const grants = activeGrants(ctx, d.id.toLowerCase());
  if (grants.length > 0) return d.diskState === 'ReadyToUpload' || grants.some((g) => g.access === 'Write' && d.creationData.createOption === 'Upload' && d.diskState !== 'Unattached') ? 'ActiveUpload' : 'ActiveSAS';
  return d.diskState;
}

function encryption(): Record<string, string> {
  return { type: 'EncryptionAtRestWithPlatformKey' };
}

function creationDataJson(c: CreationData): Record<string, unknown> {
  const out: Record<string, unknown> = { createOption: c.createOption };
  if (c.sourceResourceId) out['sourceResourceId'] = c.sourceResourceId;
  if (c.sourceUniqueId) out['sourceUniqueId'] = c.sourceUniqueId;
  if (c.sourceUri) out['sourceUri'] = c.sourceUri;
  if (c.storageAccountId) out['storageAccountId'] = c.storageAccountId;
  if (c.uploadSizeBytes) out['uploadSizeBytes'] = c.uploadSizeBytes;
  return out;
}

function diskJson(ctx: EmulatorContext, d: ManagedDisk, provisioningState = 'Succeeded'): unknown {
  return {
    id: d.id,
    name: d.name,
    type: 'Microsoft.Compute/disks',
    location: d.location,
    tags: d.tags,
    sku: { name: d.sku, tier: d.sku.startsWith('Premium') ? 'Premium' : 'Standard' },
    properties: {
      ...(d.osType ? { osType: d.osType } : {}),
      hyperVGeneration: 'V2',
      creationData: creationDataJson(d.creationData),
      diskSizeGB: Math.ceil(d.sizeBytes / GIB),
      diskSizeBytes: d.sizeBytes,
      uniqueId: d.uniqueId,
      encryption: encryption(),
      networkAccessPolicy: 'AllowAll',
      publicNetworkAccess: 'Enabled',
      timeCreated: iso(d.timeCreated),
      provisioningState,
      diskState: diskState(ctx, d),
    },
  };
}

function copyPercent(ctx: EmulatorContext, s: ManagedSnapshot): number | undefined {
  if (s.copyStartedAt === undefined || s.copyDoneAt === undefined) return undefined;
  const total = Math.max(1, s.copyDoneAt - s.copyStartedAt);
  return Math.max(0, Math.min(100, Math.floor(((ctx.now() - s.copyStartedAt) / total) * 100)));
}

function snapshotJson(ctx: EmulatorContext, s: ManagedSnapshot, provisioningState = 'Succeeded'): unknown {
  const percent = copyPercent(ctx, s);
  const failed = s.copyError && percent === 100;
  return {
    id: s.id,
    name: s.name,
    type: 'Microsoft.Compute/snapshots',
    location: s.location,
    tags: s.tags,
    sku: { name: s.sku, tier: s.sku.startsWith('Premium') ? 'Premium' : 'Standard' },
    properties: {
      ...(s.osType ? { osType: s.osType } : {}),
      hyperVGeneration: 'V2',
      creationData: creationDataJson(s.creationData),
      diskSizeGB: Math.ceil(s.sizeBytes / GIB),
      diskSizeBytes: s.sizeBytes,
      uniqueId: s.uniqueId,
      encryption: encryption(),
      networkAccessPolicy: 'AllowAll',
      publicNetworkAccess: 'Enabled',
      timeCreated: iso(s.timeCreated),
      provisioningState,
      diskState: activeGrants(ctx, s.id.toLowerCase()).length > 0 ? 'ActiveSAS' : 'Unattached',
      incremental: s.incremental,
      ...(s.incremental && s.familyId ? { incrementalSnapshotFamilyId: s.familyId } : {}),
      ...(percent !== undefined ? { completionPercent: failed ? percent : percent } : {}),
      ...(failed ? { copyCompletionError: s.copyError } : {}),
      dataAccessAuthMode: 'None',
    },
  };
}

/** Starts a long-running operation: answered 201/202 with Azure-AsyncOperation and Location to poll. */
function startOperation(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, location: string, status: number, body: unknown, result?: unknown): void {
  const id = guid();
  if (operations.size > 10_000) {
    for (const [k, op] of operations) if (op.doneAt < Date.now() - 3_600_000) operations.delete(k);
  }
  operations.set(id, { id, doneAt: Date.now(), result, started: ctx.now() });
  const apiVersion = new URL(req.url ?? '/', 'https://x').searchParams.get('api-version') ?? '2026-03-02';
  const base = `${ctx.origin}/subscriptions/${ctx.state.subscriptionId}/providers/Microsoft.Compute/locations/${location}/operations/${id}?api-version=${apiVersion}`;
  json(res, status, body, { 'azure-asyncoperation': base, location: `${base}&monitor=true`, 'retry-after': '1' });
}

function operationStatus(ctx: EmulatorContext, res: ServerResponse, id: string, monitor: boolean): void {
  const op = operations.get(id);
  if (!op) throw new ArmError(404, 'NotFound', `The operation '${id}' was not found.`);
  const done = Date.now() >= op.doneAt;
  if (monitor) {
    if (!done) return json(res, 202, undefined, { location: '', 'retry-after': '1' });
    return json(res, 200, op.result);
  }
  json(res, 200, {
    name: id,
    status: done ? (op.error ? 'Failed' : 'Succeeded') : 'InProgress',
    startTime: iso(op.started),
    ...(done ? { endTime: iso(ctx.now()) } : {}),
    ...(op.error ? { error: op.error } : {}),
    ...(done && op.result !== undefined ? { properties: { output: op.result } } : {}),
  });
}

function checkName(name: string, kind: string): void {
  if (!NAME.test(name)) {
    throw new ArmError(400, 'InvalidResourceName', `The ${kind} name '${name}' is invalid. Names are 1-80 letters, digits, '_', '-' or '.', start with a letter or digit and end with a letter, digit or '_'.`);
  }
}

function checkLocation(ctx: EmulatorContext, location: unknown): string {
  const loc = String(location ?? '').toLowerCase().replace(/\s/g, '');
  if (!loc) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
  if (!ctx.state.regions.includes(loc)) {
    throw new ArmError(400, 'LocationNotAvailableForResourceType', `The provided location '${loc}' is not available for resource type 'Microsoft.Compute/disks'. List of available regions for the resource type is '${ctx.state.regions.join(',')}'.`);
  }
  return loc;
}

function addFooter(ctx: EmulatorContext, extents: Extent[], size: number, uniqueId: string, created: number): void {
  const pos = ctx.log.appendSync(vhdFooter(size, uniqueId, created));
  overwriteInPlace(extents, size, size + 512, { src: 0, delta: pos - size });
}

function findSource(ctx: EmulatorContext, sourceId: string): { disk?: ManagedDisk; snapshot?: ManagedSnapshot } {
  const key = sourceId.toLowerCase();
  const disk = ctx.state.disks[key];
  const snapshot = ctx.state.snapshots[key];
  if (!disk && !snapshot) throw new ArmError(404, 'NotFound', `Resource '${sourceId}' was not found.`);
  return { disk, snapshot };
}

function sourceBlob(ctx: EmulatorContext, sourceUri: string): { size: number; extents: Extent[]; account: string } {
  let u: URL;
  try {
    u = new URL(sourceUri);
  } catch {
    throw new ArmError(400, 'InvalidParameter', 'The sourceUri is not a valid URL.');
  }
  const parts = u.pathname.split('/').slice(1).map(decodeURIComponent);
  const account = ctx.state.accounts[parts[0] ?? ''];
  const blob = account?.containers[parts[1] ?? '']?.blobs[parts.slice(2).join('/')];
  if (!account || !blob) throw new ArmError(404, 'NotFound', `The source blob '${u.origin}${u.pathname}' was not found.`);
  const snap = u.searchParams.get('snapshot');
  if (snap) {
    const s = blob.snapshots.find((x) => x.snapshot === snap);
    if (!s) throw new ArmError(404, 'NotFound', `The source blob snapshot '${snap}' was not found.`);
    return { size: s.size, extents: s.extents, account: account.name };
  }
  return { size: blob.size, extents: blob.extents, account: account.name };
}

async function importedContent(ctx: EmulatorContext, creation: Record<string, unknown>, location: string): Promise<{ size: number; extents: Extent[] }> {
  const sourceUri = String(creation['sourceUri'] ?? '');
  const storageAccountId = String(creation['storageAccountId'] ?? '');
  const blob = sourceBlob(ctx, sourceUri);
  const account = ctx.state.accounts[blob.account]!;
  if (storageAccountId && !storageAccountId.toLowerCase().endsWith(`/storageaccounts/${account.name}`)) {
    throw new ArmError(400, 'InvalidParameter', 'The storageAccountId does not match the account of the sourceUri.');
  }
  if (account.region !== location) {
    throw new ArmError(400, 'InvalidParameter', `The storage account '${account.name}' is in '${account.region}'; import into a resource in the same region.`);
  }
  // Import needs a fixed VHD: N MiB + 512 bytes ending in a "conectix" footer (docs/azure-behaviour.md#import-and-upload).
  const footer = blob.size >= 512 ? await readExtents(ctx.log, ctx.synthetic, blob.extents, blob.size - 512, blob.size, firstEndingAfter(blob.extents, blob.size - 512)) : Buffer.alloc(0);
  if (!isFixedVhdFooter(footer, blob.size)) {
    throw new ArmError(400, 'InvalidParameter', `The blob is not a valid fixed VHD: its size must be a whole number of MiB plus 512 bytes and it must end with a VHD footer ("conectix"). Size: ${blob.size}.`);
  }
  return { size: blob.size - 512, extents: blob.extents.slice() };
}

async function putDisk(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, rgIn: string, name: string): Promise<void> {
  checkName(name, 'disk');
  const body = await readJson(req);
  const props = (body['properties'] ?? {}) as Record<string, unknown>;
  const creation = (props['creationData'] ?? {}) as Record<string, unknown>;
  const location = checkLocation(ctx, body['location']);
  const rg = rgName(ctx, rgIn, location);
  const id = resourceId(ctx, rg, 'disks', name);
  const key = id.toLowerCase();
  const existing = ctx.state.disks[key];
  const tags = (body['tags'] ?? {}) as Record<string, string>;
  const sizeGB = props['diskSizeGB'] !== undefined ? Number(props['diskSizeGB']) : undefined;
  if (existing) {
    if (existing.location !== location) throw new ArmError(409, 'PropertyChangeNotAllowed', "Changing property 'location' is not allowed.");
    updateDisk(ctx, existing, sizeGB, tags);
    ctx.markDirty();
    return startOperation(ctx, req, res, location, 200, diskJson(ctx, existing, 'Updating'));
  }
  const option = String(creation['createOption'] ?? '');
  const now = ctx.now();
  const uniqueId = guid();
  let sizeBytes: number;
  let extents: Extent[] = [];
  let diskStateValue = 'Unattached';
  const cd: CreationData = { createOption: option };
  let osType: string | undefined;
  switch (option) {
    case 'Empty': {
      if (!sizeGB || !Number.isInteger(sizeGB) || sizeGB < 1 || sizeGB > 65536) throw new ArmError(400, 'InvalidParameter', "Required parameter 'diskSizeGB' is missing or invalid (1-65536).");
      sizeBytes = sizeGB * GIB;
      addFooter(ctx, extents, sizeBytes, uniqueId, now);
      break;
    }
    case 'Upload': {
      const upload = Number(creation['uploadSizeBytes']);
      // Upload: uploadSizeBytes includes the 512-byte footer; at least 20 MiB + 512 (docs/azure-behaviour.md#import-and-upload).
      if (!Number.isSafeInteger(upload) || upload < 20 * MIB + 512 || (upload - 512) % MIB !== 0) {
        throw new ArmError(400, 'InvalidParameter', 'uploadSizeBytes must be a whole number of MiB (at least 20 MiB) plus 512 bytes for the VHD footer.');
      }
      sizeBytes = upload - 512;
      cd.uploadSizeBytes = upload;
      diskStateValue = 'ReadyToUpload';
      break;
    }
    case 'Copy': {
      const sourceResourceId = String(creation['sourceResourceId'] ?? '');
      const src = findSource(ctx, sourceResourceId);
      const from = src.snapshot ?? src.disk!;
      if (src.snapshot && copyPercent(ctx, src.snapshot) !== undefined && copyPercent(ctx, src.snapshot)! < 100) {
        throw new ArmError(409, 'OperationNotAllowed', 'The source snapshot is still being copied (CopyStart); wait for completionPercent 100.');
      }
      sizeBytes = from.sizeBytes;
      if (sizeGB && sizeGB * GIB > sizeBytes) sizeBytes = sizeGB * GIB;
      extents = truncate(from.extents, from.sizeBytes);
      addFooter(ctx, extents, sizeBytes, uniqueId, now);
      cd.sourceResourceId = from.id;
      cd.sourceUniqueId = from.uniqueId;
      osType = from.osType;
      break;
    }
    case 'Import': {
      const content = await importedContent(ctx, creation, location);
      sizeBytes = content.size;
      extents = content.extents;
      cd.sourceUri = String(creation['sourceUri']).split('?')[0]! + (new URL(String(creation['sourceUri'])).searchParams.get('snapshot') ? `?snapshot=${new URL(String(creation['sourceUri'])).searchParams.get('snapshot')}` : '');
      cd.storageAccountId = String(creation['storageAccountId'] ?? '');
      break;
    }
    default:
      throw new ArmError(400, 'InvalidParameter', `createOption '${option}' is not supported by the emulator (Empty, Upload, Copy, Import).`);
  }
  const disk: ManagedDisk = {
    id,
    name,
    resourceGroup: rg,
    location,
    uniqueId,
    familyId: guid(),
    sizeBytes,
    sku: String((body['sku'] as { name?: string } | undefined)?.name ?? 'Premium_LRS'),
    creationData: cd,
    timeCreated: now,
    diskState: diskStateValue,
    extents,
    tags,
    osType: osType ?? (props['osType'] as string | undefined),
    snapshotTimes: [],
  };
  ctx.state.disks[key] = disk;
  ctx.markDirty();
  startOperation(ctx, req, res, location, 201, diskJson(ctx, disk, 'Updating'));
}

function updateDisk(ctx: EmulatorContext, disk: ManagedDisk, sizeGB: number | undefined, tags: Record<string, string>): void {
  disk.tags = tags;
  if (sizeGB === undefined) return;
  const newSize = sizeGB * GIB;
  if (newSize === disk.sizeBytes) return;
  if (activeGrants(ctx, disk.id.toLowerCase()).length > 0) {
    throw new ArmError(409, 'OperationNotAllowed', `Disk '${disk.name}' is currently being accessed through a SAS (diskState ActiveSAS). Revoke access (endGetAccess) before resizing.`);
  }
  if (newSize < disk.sizeBytes) {
    throw new ArmError(400, 'BadRequest', `Disk size can only be increased: '${disk.name}' is ${Math.ceil(disk.sizeBytes / GIB)} GB, requested ${sizeGB} GB.`);
  }
  disk.extents = truncate(disk.extents, disk.sizeBytes);
  disk.sizeBytes = newSize;
  addFooter(ctx, disk.extents, newSize, disk.uniqueId, disk.timeCreated);
}

async function putSnapshot(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, rgIn: string, name: string): Promise<void> {
  checkName(name, 'snapshot');
  const body = await readJson(req);
  const props = (body['properties'] ?? {}) as Record<string, unknown>;
  const creation = (props['creationData'] ?? {}) as Record<string, unknown>;
  const location = checkLocation(ctx, body['location']);
  const rg = rgName(ctx, rgIn, location);
  const id = resourceId(ctx, rg, 'snapshots', name);
  const key = id.toLowerCase();
  const existing = ctx.state.snapshots[key];
  const tags = (body['tags'] ?? {}) as Record<string, string>;
  if (existing) {
    existing.tags = tags;
    ctx.markDirty();
    return startOperation(ctx, req, res, location, 200, snapshotJson(ctx, existing, 'Updating'));
  }
  const option = String(creation['createOption'] ?? '');
  const incremental = props['incremental'] === true;
  const now = ctx.now();
  const skuAsked = (body['sku'] as { name?: string } | undefined)?.name;
  // Incremental snapshots always live on Standard HDD storage (Azure docs, "incremental snapshots").
  if (incremental && skuAsked && !skuAsked.startsWith('Standard_')) {
    throw new ArmError(400, 'BadRequest', `Incremental snapshots are stored on Standard HDD storage: sku '${skuAsked}' is not supported; use Standard_ZRS or Standard_LRS.`);
  }
  const snapshot: ManagedSnapshot = {
    id,
    name,
    resourceGroup: rg,
    location,
    uniqueId: guid(),
    incremental,
    sizeBytes: 0,
    sku: skuAsked ?? (incremental ? (ZRS_REGIONS.has(location) ? 'Standard_ZRS' : 'Standard_LRS') : 'Standard_LRS'),
    creationData: { createOption: option },
    timeCreated: now,
    extents: [],
    tags,
  };
  if (option === 'Copy') {
    const sourceResourceId = String(creation['sourceResourceId'] ?? '');
    const src = findSource(ctx, sourceResourceId);
    if (src.disk) {
      const disk = src.disk;
      if (disk.location !== location) throw new ArmError(400, 'InvalidParameter', `A snapshot of disk '${disk.name}' must be created in its region '${disk.location}'; use CopyStart to copy it to another region.`);
      if (disk.diskState === 'ReadyToUpload') throw new ArmError(409, 'OperationNotAllowed', `Disk '${disk.name}' has not been uploaded yet (ReadyToUpload).`);
      if (incremental) {
        const recent = disk.snapshotTimes.filter((t) => now - t < FIVE_MINUTES);
        if (recent.length >= LIMITS.snapshotsPer5Minutes) {
          throw new ArmError(409, 'OperationNotAllowed', `Disk '${disk.name}' already has ${recent.length} incremental snapshots created in the last 5 minutes; at most ${LIMITS.snapshotsPer5Minutes} are allowed per 5 minutes. Retry later.`);
        }
        const family = Object.values(ctx.state.snapshots).filter((s) => s.incremental && s.creationData.sourceUniqueId === disk.uniqueId);
        if (family.length >= LIMITS.snapshotsPerDisk) {
          throw new ArmError(409, 'OperationNotAllowed', `Disk '${disk.name}' already has ${family.length} incremental snapshots; at most ${LIMITS.snapshotsPerDisk} are allowed per disk. Delete older snapshots first.`);
        }
        const previous = family.sort((a, b) => b.timeCreated - a.timeCreated)[0];
        if (!skuAsked && previous) snapshot.sku = previous.sku;
        snapshot.familyId = disk.familyId;
        disk.snapshotTimes = [...recent, now];
      }
      snapshot.sizeBytes = disk.sizeBytes;
      snapshot.extents = disk.extents.slice();
      snapshot.creationData = { createOption: 'Copy', sourceResourceId: disk.id, sourceUniqueId: disk.uniqueId };
      snapshot.osType = disk.osType;
    } else {
      const from = src.snapshot!;
      if (incremental) throw new ArmError(400, 'BadRequest', 'An incremental snapshot cannot be created from a snapshot with createOption Copy; use CopyStart to copy it to another region, or create a full snapshot (incremental: false).');
      if (from.location !== location) throw new ArmError(400, 'InvalidParameter', `Snapshot '${from.name}' is in '${from.location}'; use CopyStart to copy across regions.`);
      snapshot.sizeBytes = from.sizeBytes;
      snapshot.extents = from.extents.slice();
      snapshot.creationData = { createOption: 'Copy', sourceResourceId: from.id, sourceUniqueId: from.uniqueId };
      snapshot.osType = from.osType;
    }
  } else if (option === 'CopyStart') {
    const src = findSource(ctx, String(creation['sourceResourceId'] ?? ''));
    const from = src.snapshot;
    // CopyStart copies incremental snapshots only (docs/azure-behaviour.md#copystart).
    if (!from || !from.incremental) throw new ArmError(400, 'BadRequest', 'CopyStart is supported only for incremental snapshots.');
    if (!incremental) throw new ArmError(400, 'BadRequest', 'A CopyStart snapshot must be incremental (properties.incremental: true).');
    const busy = Object.values(ctx.state.snapshots).some((s) => s.creationData.createOption === 'CopyStart' && s.location === location && ctx.state.snapshots[s.creationData.sourceResourceId?.toLowerCase() ?? '']?.familyId === from.familyId && (copyPercent(ctx, s) ?? 100) < 100);
    if (busy) throw new ArmError(409, 'OperationNotAllowed', 'Another CopyStart of a snapshot of this disk is in progress; copies of one disk run one at a time, in creation order.');
    const running = Object.values(ctx.state.snapshots).filter((s) => s.creationData.createOption === 'CopyStart' && s.location === location && (copyPercent(ctx, s) ?? 100) < 100).length;
    // At most 100 CopyStart copies run at once per subscription and target region.
    if (running >= 100) throw new ArmError(409, 'OperationNotAllowed', `${running} CopyStart copies are already running into '${location}'; at most 100 run at once per subscription and region.`);
    snapshot.sizeBytes = from.sizeBytes;
    snapshot.extents = from.extents.slice();
    snapshot.familyId = crypto.createHash('sha256').update(`${from.familyId}|${location}`).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5');
    snapshot.creationData = { createOption: 'CopyStart', sourceResourceId: from.id, sourceUniqueId: from.uniqueId };
    snapshot.copyStartedAt = now;
    const used = usedBytes(from.extents);
    snapshot.copyDoneAt = now + Math.round((2000 + Math.min(8000, used / (256 * MIB) * 1000)) * ctx.copyTimeScale);
    if (ctx.faults.chance(ctx.faults.settings.copyfail)) {
      ctx.faults.count('copyfail');
      snapshot.copyError = { errorCode: 'CopySourceNotFound', errorMessage: 'The copy failed because the source was not available. Delete this snapshot and retry the copy.' };
    }
    snapshot.osType = from.osType;
  } else if (option === 'Import') {
    const content = await importedContent(ctx, creation, location);
    snapshot.sizeBytes = content.size;
    snapshot.extents = content.extents;
    snapshot.incremental = false;
    if (incremental) throw new ArmError(400, 'BadRequest', 'Import creates a full snapshot; set incremental to false.');
    const u = new URL(String(creation['sourceUri']));
    snapshot.creationData = { createOption: 'Import', sourceUri: `${u.origin}${u.pathname}${u.searchParams.get('snapshot') ? `?snapshot=${u.searchParams.get('snapshot')}` : ''}`, storageAccountId: String(creation['storageAccountId'] ?? '') };
  } else {
    throw new ArmError(400, 'InvalidParameter', `createOption '${option}' is not supported for snapshots (Copy, CopyStart, Import).`);
  }
  ctx.state.snapshots[key] = snapshot;
  ctx.markDirty();
  startOperation(ctx, req, res, location, 201, snapshotJson(ctx, snapshot, 'Updating'));
}

function deleteResource(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, kind: 'disks' | 'snapshots', rg: string, name: string): void {
  const key = resourceId(ctx, rg, kind, name).toLowerCase();
  const found = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
  if (!found) return json(res, 204, undefined);
  if (activeGrants(ctx, key).length > 0) {
    throw new ArmError(409, 'OperationNotAllowed', `${kind === 'disks' ? 'Disk' : 'Snapshot'} '${found.name}' has an active SAS (diskState ActiveSAS). Revoke access (endGetAccess) before deleting it.`);
  }
  if (kind === 'disks') delete ctx.state.disks[key];
  else delete ctx.state.snapshots[key];
  ctx.markDirty();
  startOperation(ctx, req, res, found.location, 202, undefined);
}

async function grantAccess(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, kind: 'disks' | 'snapshots', rg: string, name: string): Promise<void> {
  const body = await readJson(req);
  const key = resourceId(ctx, rg, kind, name).toLowerCase();
  const target = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
  if (!target) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${rg}' was not found.`);
  const access = String(body['access'] ?? '');
  const duration = Number(body['durationInSeconds'] ?? 3600);
  if (access !== 'Read' && access !== 'Write') throw new ArmError(400, 'InvalidParameter', "access must be 'Read' or 'Write'.");
  if (!Number.isFinite(duration) || duration < 1) throw new ArmError(400, 'InvalidParameter', 'durationInSeconds must be a positive number.');
  pruneGrants(ctx);
  let familyId: string | undefined;
  let snapshotStamp: string | undefined;
  if (kind === 'snapshots') {
    const s = target as ManagedSnapshot;
    if (access === 'Write') throw new ArmError(400, 'InvalidParameter', 'Write access can be granted on disks only.');
    const pct = copyPercent(ctx, s);
    if (pct !== undefined && pct < 100) throw new ArmError(409, 'OperationNotAllowed', `Snapshot '${s.name}' is still being copied (completionPercent ${pct}).`);
    familyId = s.incremental ? s.familyId : undefined;
    snapshotStamp = snapshotTime(s.timeCreated);
    if (familyId) {
      const others = Object.values(ctx.state.grants).filter((g) => g.familyId === familyId && g.resourceId !== key);
      if (others.length >= LIMITS.sasPerFamily) {
        throw new ArmError(409, 'OperationNotAllowed', `At most ${LIMITS.sasPerFamily} SAS URIs can be active at once for the snapshots of one incremental snapshot family; ${others.length} are active. Revoke access (endGetAccess) on a snapshot of this family first.`);
      }
    }
  } else {
    const d = target as ManagedDisk;
    if (d.diskState === 'ReadyToUpload' && access !== 'Write') throw new ArmError(409, 'OperationNotAllowed', `Disk '${d.name}' is ReadyToUpload: grant Write access to upload it.`);
  }
  for (const g of activeGrants(ctx, key)) delete ctx.state.grants[g.id];
  const grant: AccessGrant = {
    id: guid(),
    account: `md-${crypto.randomBytes(6).toString('hex')}`,
    container: crypto.randomBytes(6).toString('hex'),
    resourceId: key,
    kind: kind === 'disks' ? 'disk' : 'snapshot',
    access,
    expiresAt: ctx.now() + duration * 1000,
    key: crypto.randomBytes(32).toString('base64'),
    familyId,
    snapshotTime: snapshotStamp,
  };
  ctx.state.grants[grant.id] = grant;
  ctx.markDirty();
  const sv = '2018-03-28';
  const sr = 'b';
  const sig = managedSasSignature(grant, sv, sr);
  const accessSAS = `${ctx.origin}/${grant.account}/${grant.container}/abcd?${snapshotStamp ? `snapshot=${encodeURIComponent(snapshotStamp)}&` : ''}sv=${sv}&sr=${sr}&si=${grant.id}&sig=${encodeURIComponent(sig)}`;
  startOperation(ctx, req, res, target.location, 202, undefined, { accessSAS });
}

function revokeAccess(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, kind: 'disks' | 'snapshots', rg: string, name: string): void {
  const key = resourceId(ctx, rg, kind, name).toLowerCase();
  const target = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
  if (!target) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${rg}' was not found.`);
  let wrote = false;
  for (const g of Object.values(ctx.state.grants)) {
    if (g.resourceId === key) {
      wrote ||= g.access === 'Write';
      delete ctx.state.grants[g.id];
    }
  }
  if (kind === 'disks' && wrote) (target as ManagedDisk).diskState = 'Unattached';
  ctx.markDirty();
  startOperation(ctx, req, res, target.location, 202, undefined);
}

function storageAccountJson(ctx: EmulatorContext, name: string): unknown {
  const a = ctx.state.accounts[name]!;
  return {
    id: `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${a.resourceGroup}/providers/Microsoft.Storage/storageAccounts/${a.name}`,
    name: a.name,
    type: 'Microsoft.Storage/storageAccounts',
    location: a.region,
    kind: 'StorageV2',
    sku: { name: 'Standard_LRS', tier: 'Standard' },
    tags: {},
    properties: {
      provisioningState: 'Succeeded',
      primaryEndpoints: { blob: `${ctx.origin}/${a.name}/` },
      primaryLocation: a.region,
      statusOfPrimary: 'available',
      creationTime: new Date(0).toISOString(),
      supportsHttpsTrafficOnly: true,
      accessTier: 'Hot',
      minimumTlsVersion: 'TLS1_2',
      allowBlobPublicAccess: false,
    },
  };
}

/** Emulator-only: content written "as a VM would", generated from (seed, version), without sending bytes. */
async function syntheticWrites(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const disk = ctx.state.disks[id.toLowerCase()];
  if (!disk) throw new ArmError(404, 'ResourceNotFound', `Disk '${id}' was not found.`);
  const body = await readJson(req);
  const seed = Number(body['seed'] ?? 1) >>> 0;
  const version = ctx.state.nextSyntheticId;
  const src = ctx.addSynthetic({ seed, version });
  const ranges: { offset: number; length: number }[] = [];
  if (Array.isArray(body['ranges'])) {
    for (const r of body['ranges'] as { offset: number; length: number }[]) ranges.push({ offset: Number(r.offset), length: Number(r.length) });
  }
  const pattern = body['pattern'] as { count?: number; length?: number; start?: number; stride?: number; random?: boolean } | undefined;
  if (pattern) {
    const count = Number(pattern.count ?? 1);
    const length = Number(pattern.length ?? 4096);
    const start = Number(pattern.start ?? 0);
    if (pattern.random) {
      let x = seed || 1;
      const pages = Math.floor((disk.sizeBytes - length) / 512);
      for (let i = 0; i < count; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const page = Math.floor((x / 4294967296) * pages);
        ranges.push({ offset: page * 512, length });
      }
    } else {
      const stride = Number(pattern.stride ?? length);
      for (let i = 0; i < count; i++) ranges.push({ offset: start + i * stride, length });
    }
  }
  ranges.sort((a, b) => a.offset - b.offset);
  const pieces: Extent[] = [];
  let bytes = 0;
  for (const r of ranges) {
    if (r.offset % 512 !== 0 || r.length % 512 !== 0 || r.length <= 0 || r.offset + r.length > disk.sizeBytes) {
      throw new ArmError(400, 'InvalidParameter', `Range ${r.offset}+${r.length} must be 512-aligned and inside the disk (${disk.sizeBytes} bytes).`);
    }
    const last = pieces[pieces.length - 1];
    const start = last && last.end > r.offset ? last.end : r.offset;
    const end = r.offset + r.length;
    if (end <= start) continue;
    if (last && last.end === start) pieces[pieces.length - 1] = { ...last, end };
    else pieces.push({ start, end, src, delta: 0 });
    bytes += end - start;
  }
  disk.extents = overlay(disk.extents, pieces);
  ctx.countWrite('synthetic', id.toLowerCase(), bytes);
  ctx.markDirty();
  json(res, 200, { ranges: pieces.length, bytes, extents: disk.extents.length });
}

function statsJson(ctx: EmulatorContext): unknown {
  pruneGrants(ctx);
  return { ...ctx.stats, faultsInjected: { ...ctx.faults.injected }, activeSasGrants: ctx.activeGrants(), pageLogBytes: ctx.log.size };
}

export async function handleArmRequest(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    const auth = String(req.headers.authorization ?? '');
    if (auth !== `Bearer ${ctx.state.token}`) {
      throw new ArmError(401, auth ? 'InvalidAuthenticationToken' : 'AuthenticationFailed', auth ? 'The access token is invalid.' : "Authentication failed. The 'Authorization' header is missing.");
    }
    await routeArm(ctx, req, res, url);
  } catch (err) {
    if (err instanceof ArmError) {
      if (!req.readableEnded) req.resume();
      sendArmError(res, err);
    } else throw err;
  }
}

async function routeArm(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const path = url.pathname.replace(/\/+$/, '');
  const lower = path.toLowerCase();
  const sub = ctx.state.subscriptionId;
  const count = (op: string): void => ctx.countRequest(`arm:${op}`);

  if (lower.startsWith('/emulator/')) {
    if (lower === '/emulator/stats' && method === 'GET') return json(res, 200, statsJson(ctx));
    if (lower === '/emulator/stats/reset' && method === 'POST') {
      ctx.resetStats();
      return json(res, 200, statsJson(ctx));
    }
    if (lower === '/emulator/faults' && method === 'GET') return json(res, 200, ctx.faults.settings);
    if (lower === '/emulator/faults' && method === 'PUT') {
      try {
        ctx.faults.replace(mergeFaults(ctx.faults.settings, await readJson(req)));
      } catch (e) {
        throw new ArmError(400, 'InvalidParameter', (e as Error).message);
      }
      return json(res, 200, ctx.faults.settings);
    }
    if (lower === '/emulator/clock' && method === 'POST') {
      const body = await readJson(req);
      ctx.state.clockOffsetMs += Number(body['advanceMs'] ?? 0);
      ctx.markDirty();
      return json(res, 200, { now: new Date(ctx.now()).toISOString(), offsetMs: ctx.state.clockOffsetMs });
    }
    const m = /^\/emulator\/disks\/(.+)\/synthetic-writes$/.exec(path);
    if (m && method === 'POST') return syntheticWrites(ctx, req, res, decodeURIComponent(m[1]!));
    throw new ArmError(404, 'NotFound', 'Unknown emulator endpoint.');
  }

  if (lower === '/subscriptions' && method === 'GET') {
    count('ListSubscriptions');
    return json(res, 200, { value: [subscriptionJson(ctx)] });
  }
  if (lower === '/tenants' && method === 'GET') {
    return json(res, 200, { value: [{ id: `/tenants/${ctx.state.tenantId}`, tenantId: ctx.state.tenantId, displayName: 'Disk Delta Emulator', tenantCategory: 'Home' }] });
  }
  const subPrefix = `/subscriptions/${sub}`;
  if (!lower.startsWith(subPrefix.toLowerCase())) {
    if (lower.startsWith('/subscriptions/')) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${path.split('/')[2]}' could not be found.`);
    throw new ArmError(404, 'NotFound', `No route for ${method} ${path}.`);
  }
  const rest = path.slice(subPrefix.length);
  const restLower = rest.toLowerCase();
  if (rest === '' && method === 'GET') return json(res, 200, subscriptionJson(ctx));
  if (restLower === '/locations' && method === 'GET') {
    return json(res, 200, { value: ctx.state.regions.map((r) => ({ id: `${subPrefix}/locations/${r}`, name: r, displayName: r, type: 'Region' })) });
  }
  let m = /^\/providers\/microsoft\.compute\/locations\/([^/]+)\/operations\/([^/]+)$/.exec(restLower);
  if (m && method === 'GET') return operationStatus(ctx, res, rest.split('/').pop()!, url.searchParams.get('monitor') === 'true');
  m = /^\/providers\/microsoft\.compute\/(disks|snapshots)$/.exec(restLower);
  if (m && method === 'GET') {
    count(`List${m[1] === 'disks' ? 'Disks' : 'Snapshots'}`);
    return json(res, 200, { value: listOf(ctx, m[1] as 'disks' | 'snapshots') });
  }
  m = /^\/providers\/microsoft\.storage\/storageaccounts$/.exec(restLower);
  if (m && method === 'GET') return json(res, 200, { value: Object.keys(ctx.state.accounts).map((n) => storageAccountJson(ctx, n)) });
  if (restLower === '/resourcegroups' && method === 'GET') {
    return json(res, 200, { value: Object.values(ctx.state.resourceGroups).map((g) => rgJson(ctx, g.name, g.location)) });
  }
  m = /^\/resourcegroups\/([^/]+)(.*)$/i.exec(rest);
  if (!m) throw new ArmError(404, 'NotFound', `No route for ${method} ${path}.`);
  const rgIn = decodeURIComponent(m[1]!);
  const tail = m[2]!;
  const tailLower = tail.toLowerCase();
  if (tail === '') {
    const g = ctx.state.resourceGroups[rgIn.toLowerCase()];
    if (method === 'GET') {
      if (!g) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rgIn}' could not be found.`);
      return json(res, 200, rgJson(ctx, g.name, g.location));
    }
    if (method === 'PUT') {
      const body = await readJson(req);
      const name = rgName(ctx, rgIn, String(body['location'] ?? ctx.state.regions[0]));
      ctx.markDirty();
      return json(res, g ? 200 : 201, rgJson(ctx, name, ctx.state.resourceGroups[rgIn.toLowerCase()]!.location));
    }
  }
  const rg = ctx.state.resourceGroups[rgIn.toLowerCase()]?.name ?? rgIn;
  m = /^\/providers\/microsoft\.storage\/storageaccounts(?:\/([^/]+)(\/listkeys)?)?$/.exec(tailLower);
  if (m) {
    const inRg = Object.values(ctx.state.accounts).filter((a) => a.resourceGroup.toLowerCase() === rg.toLowerCase());
    if (!m[1]) return json(res, 200, { value: inRg.map((a) => storageAccountJson(ctx, a.name)) });
    const a = inRg.find((x) => x.name === m![1]);
    if (!a) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Storage/storageAccounts/${m[1]}' under resource group '${rg}' was not found.`);
    if (m[2] && method === 'POST') return json(res, 200, { keys: [{ keyName: 'key1', value: a.key, permissions: 'FULL' }] });
    return json(res, 200, storageAccountJson(ctx, a.name));
  }
  m = /^\/providers\/microsoft\.compute\/(disks|snapshots)(?:\/([^/]+)(\/begingetaccess|\/endgetaccess)?)?$/.exec(tailLower);
  if (!m) throw new ArmError(404, 'NotFound', `No route for ${method} ${path}.`);
  const kind = m[1] as 'disks' | 'snapshots';
  const label = kind === 'disks' ? 'Disk' : 'Snapshot';
  if (!m[2]) {
    if (method !== 'GET') throw new ArmError(405, 'MethodNotAllowed', 'Method not allowed.');
    count(`List${label}s`);
    return json(res, 200, { value: listOf(ctx, kind).filter((r) => (r as { id: string }).id.toLowerCase().includes(`/resourcegroups/${rg.toLowerCase()}/`)) });
  }
  const name = decodeURIComponent(tail.split('/')[4]!);
  if (m[3] === '/begingetaccess' && method === 'POST') {
    count(`Grant${label}Access`);
    return grantAccess(ctx, req, res, kind, rg, name);
  }
  if (m[3] === '/endgetaccess' && method === 'POST') {
    count(`Revoke${label}Access`);
    return revokeAccess(ctx, req, res, kind, rg, name);
  }
  if (m[3]) throw new ArmError(405, 'MethodNotAllowed', 'Method not allowed.');
  const key = resourceId(ctx, rg, kind, name).toLowerCase();
  switch (method) {
    case 'GET': {
      count(`Get${label}`);
      const r = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
      if (!r) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
      return json(res, 200, kind === 'disks' ? diskJson(ctx, r as ManagedDisk) : snapshotJson(ctx, r as ManagedSnapshot));
    }
    case 'PUT':
      count(`CreateOrUpdate${label}`);
      return kind === 'disks' ? putDisk(ctx, req, res, rg, name) : putSnapshot(ctx, req, res, rg, name);
    case 'PATCH': {
      count(`Update${label}`);
      const body = await readJson(req);
      const r = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
      if (!r) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${rg}' was not found.`);
      const props = (body['properties'] ?? {}) as Record<string, unknown>;
      const tags = (body['tags'] as Record<string, string> | undefined) ?? r.tags;
      if (kind === 'disks') updateDisk(ctx, r as ManagedDisk, props['diskSizeGB'] !== undefined ? Number(props['diskSizeGB']) : undefined, tags);
      else r.tags = tags;
      ctx.markDirty();
      // The operation's final result is the updated resource, as for PUT: the SDK's poller reads it from the Location URL.
      return startOperation(
        ctx,
        req,
        res,
        r.location,
        200,
        kind === 'disks' ? diskJson(ctx, r as ManagedDisk, 'Updating') : snapshotJson(ctx, r as ManagedSnapshot, 'Updating'),
        kind === 'disks' ? diskJson(ctx, r as ManagedDisk) : snapshotJson(ctx, r as ManagedSnapshot),
      );
    }
    case 'DELETE':
      count(`Delete${label}`);
      return deleteResource(ctx, req, res, kind, rg, name);
  }
  throw new ArmError(405, 'MethodNotAllowed', 'Method not allowed.');
}

function listOf(ctx: EmulatorContext, kind: 'disks' | 'snapshots'): unknown[] {
  if (kind === 'disks') return Object.values(ctx.state.disks).sort((a, b) => a.timeCreated - b.timeCreated).map((d) => diskJson(ctx, d));
  return Object.values(ctx.state.snapshots).sort((a, b) => a.timeCreated - b.timeCreated).map((s) => snapshotJson(ctx, s));
}

function subscriptionJson(ctx: EmulatorContext): unknown {
  return {
    id: `/subscriptions/${ctx.state.subscriptionId}`,
    subscriptionId: ctx.state.subscriptionId,
    tenantId: ctx.state.tenantId,
    displayName: 'Disk Delta Emulator',
    state: 'Enabled',
    authorizationSource: 'RoleBased',
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
  };
}

function rgJson(ctx: EmulatorContext, name: string, location: string): unknown {
  return { id: `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${name}`, name, type: 'Microsoft.Resources/resourceGroups', location, properties: { provisioningState: 'Succeeded' } };
}
