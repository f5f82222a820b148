import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext, Handler } from './context';
import { managedSasSignature } from './blobAuth';
import { overwriteInPlace, truncate, usedBytes, firstEndingAfter, type Extent } from './extentMap';
import { readExtents } from './pageLog';
import { guid, isFixedVhdFooter, vhdFooter, type AccessGrant, type CreationData, type ManagedDisk, type ManagedSnapshot } from './state';
import type { ArmOperationGroup } from './armThrottle';

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const GIB = 1024 ** 3;
const MIB = 1024 * 1024;
const FIVE_MINUTES = 5 * 60_000;
// Limits from docs/azure-behaviour.md#limits: 7 incremental snapshots per disk per 5 minutes, 500 per disk, 5 SAS per family.
export const LIMITS = { snapshotsPer5Minutes: 7, snapshotsPerDisk: 500, sasPerFamily: 5 };
export const ZRS_REGIONS = new Set([
  'eastus',
  'eastus2',
  'westus2',
  'westus3',
  'centralus',
  'southcentralus',
  'northeurope',
  'westeurope',
  'uksouth',
  'francecentral',
  'germanywestcentral',
  'swedencentral',
  'japaneast',
  'australiaeast',
  'southeastasia',
  'canadacentral',
]);
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

/** Azure refuses disk and snapshot SAS grants longer than 60 days (docs/azure-behaviour.md#access-sas-grants). */
export const MAX_SAS_SECONDS = 5_184_000;

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
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

/**
 * A resource group by name (case-insensitive), created when missing: for `PUT .../resourcegroups/{rg}` and the
 * emulator's own bulk seeding only.
 */
export function rgName(ctx: EmulatorContext, name: string, location?: string): string {
  const key = name.toLowerCase();
  const existing = ctx.state.resourceGroups[key];
  if (existing) return existing.name;
  ctx.state.resourceGroups[key] = { name, location: location ?? ctx.state.regions[0]! };
  return name;
}

/**
 * The existing resource group a disk or snapshot goes into, as it was created (names are case-insensitive).
 * Azure refuses a PUT into a group that does not exist with 404 ResourceGroupNotFound
 * (docs/azure-behaviour.md#resource-groups).
 */
export function existingRg(ctx: EmulatorContext, name: string): string {
  const existing = ctx.state.resourceGroups[name.toLowerCase()];
  if (!existing) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`);
  return existing.name;
}

export function resourceId(ctx: EmulatorContext, rg: string, kind: 'disks' | 'snapshots', name: string): string {
  return `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/${kind}/${name}`;
}

function activeGrants(ctx: EmulatorContext, id: string): AccessGrant[] {
  const now = ctx.now();
  return Object.values(ctx.state.grants).filter((g) => g.resourceId === id && g.expiresAt > now);
}

export function pruneGrants(ctx: EmulatorContext): void {
  const now = ctx.now();
  for (const [k, g] of Object.entries(ctx.state.grants)) if (g.expiresAt <= now) delete ctx.state.grants[k];
}

function diskState(ctx: EmulatorContext, d: ManagedDisk): string {
  const grants = activeGrants(ctx, d.id.toLowerCase());
  if (grants.length > 0)
    return d.diskState === 'ReadyToUpload' ||
      grants.some((g) => g.access === 'Write' && d.creationData.createOption === 'Upload' && d.diskState !== 'Unattached')
      ? 'ActiveUpload'
      : 'ActiveSAS';
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

/**
 * Starts a long-running operation as Azure answers it (docs/azure-behaviour.md#long-running-operations):
 * `202 Accepted` with `Azure-AsyncOperation` (the status resource), `Location` (the same with
 * `monitor=true`: 202 while running, then the output) and `Retry-After`. The operation's output - the
 * resource, or `{accessSAS}` - is in the status resource's `properties.output`; a failure is its `error`.
 */
function startOperation(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  location: string,
  body: unknown,
  outcome: { result?: () => unknown; error?: { code: string; message: string } } = {},
): void {
  const id = guid();
  const operations = ctx.operations;
  if (operations.size > 10_000) {
    for (const [k, op] of operations) if (op.doneAt < Date.now() - 3_600_000) operations.delete(k);
  }
  operations.set(id, { id, doneAt: Date.now(), result: outcome.result, error: outcome.error, started: ctx.now() });
  const apiVersion = new URL(req.url ?? '/', 'https://x').searchParams.get('api-version') ?? '2026-03-02';
  const base = `${ctx.origin}/subscriptions/${ctx.state.subscriptionId}/providers/Microsoft.Compute/locations/${location}/DiskOperations/${id}?p=${OPERATION_PARTITION}&api-version=${apiVersion}`;
  json(res, 202, body, { 'azure-asyncoperation': base, location: base.replace('&api-version=', '&monitor=true&api-version='), 'retry-after': '1' });
}

/** The opaque `p` parameter Azure puts in its operation URLs (which server holds the operation). */
const OPERATION_PARTITION = guid();

/**
 * What a create PUT answers with its 202: the request's resource as accepted, `provisioningState: "Updating"`,
 * as in the REST specification's CopyStart example (docs/azure-behaviour.md#long-running-operations).
 */
function acceptedBody(
  id: string,
  name: string,
  location: string,
  body: Record<string, unknown>,
  props: Record<string, unknown>,
  creationData?: CreationData,
): unknown {
  return {
    id,
    name,
    location,
    ...(body['tags'] ? { tags: body['tags'] } : {}),
    ...(body['sku'] ? { sku: body['sku'] } : {}),
    properties: {
      ...props,
      ...(creationData ? { creationData: creationDataJson(creationData) } : {}),
      provisioningState: 'Updating',
      isArmResource: true,
    },
  };
}

function operationStatus(ctx: EmulatorContext, res: ServerResponse, id: string, monitor: boolean): void {
  const op = ctx.operations.get(id);
  if (!op) throw new ArmError(404, 'NotFound', `The operation '${id}' was not found.`);
  const done = Date.now() >= op.doneAt;
  const output = done && !op.error && op.result ? op.result() : undefined;
  if (monitor) {
    if (!done) return json(res, 202, undefined, { 'retry-after': '1' });
    if (op.error) return json(res, 400, { error: op.error });
    return json(res, 200, output);
  }
  json(
    res,
    200,
    {
      startTime: iso(op.started),
      ...(done ? { endTime: iso(ctx.now()) } : {}),
      status: done ? (op.error ? 'Failed' : 'Succeeded') : 'InProgress',
      ...(output !== undefined ? { properties: { output } } : {}),
      ...(done && op.error ? { error: op.error } : {}),
      name: id,
    },
    done ? {} : { 'retry-after': '1' },
  );
}

export function checkName(name: string, kind: string): void {
  if (!NAME.test(name)) {
    throw new ArmError(
      400,
      'InvalidResourceName',
      `The ${kind} name '${name}' is invalid. Names are 1-80 letters, digits, '_', '-' or '.', start with a letter or digit and end with a letter, digit or '_'.`,
    );
  }
}

export function checkLocation(ctx: EmulatorContext, location: unknown): string {
  const loc = String(location ?? '')
    .toLowerCase()
    .replace(/\s/g, '');
  if (!loc) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
  if (!ctx.state.regions.includes(loc)) {
    throw new ArmError(
      400,
      'LocationNotAvailableForResourceType',
      `The provided location '${loc}' is not available for resource type 'Microsoft.Compute/disks'. List of available regions for the resource type is '${ctx.state.regions.join(',')}'.`,
    );
  }
  return loc;
}

export function addFooter(ctx: EmulatorContext, extents: Extent[], size: number, uniqueId: string, created: number): void {
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

/** An Import whose blob is not a fixed VHD: Azure accepts the request and fails the operation. */
class InvalidVhd extends Error {}

async function importedContent(
  ctx: EmulatorContext,
  creation: Record<string, unknown>,
  location: string,
  name: string,
): Promise<{ size: number; extents: Extent[] }> {
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
  // Import needs a fixed VHD: N MiB + 512 bytes ending in a "conectix" footer. Azure checks it inside the
  // operation, which then fails with BadRequest (docs/azure-behaviour.md#import-and-upload).
  const footer =
    blob.size >= 512
      ? await readExtents(ctx.log, ctx.synthetic, blob.extents, blob.size - 512, blob.size, firstEndingAfter(blob.extents, blob.size - 512))
      : Buffer.alloc(0);
  if (!isFixedVhdFooter(footer, blob.size)) {
    const u = new URL(sourceUri);
    throw new InvalidVhd(
      `The specified cookie value in VHD footer indicates that disk '${name}' with blob ${u.origin}${u.pathname} is not a supported VHD. Disk is expected to have cookie value 'conectix'.`,
    );
  }
  return { size: blob.size - 512, extents: blob.extents.slice() };
}

async function putDisk(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, rgIn: string, name: string): Promise<void> {
  // Azure's gateway answers for a missing group before the resource provider looks at the request.
  const rg = existingRg(ctx, rgIn);
  checkName(name, 'disk');
  const body = await readJson(req);
  const props = (body['properties'] ?? {}) as Record<string, unknown>;
  const creation = (props['creationData'] ?? {}) as Record<string, unknown>;
  const location = checkLocation(ctx, body['location']);
  const id = resourceId(ctx, rg, 'disks', name);
  const key = id.toLowerCase();
  const existing = ctx.state.disks[key];
  const tags = (body['tags'] ?? {}) as Record<string, string>;
  const sizeGB = props['diskSizeGB'] !== undefined ? Number(props['diskSizeGB']) : undefined;
  if (existing) {
    if (existing.location !== location) throw new ArmError(409, 'PropertyChangeNotAllowed', "Changing property 'location' is not allowed.");
    updateDisk(ctx, existing, sizeGB, tags);
    ctx.markDirty();
    return startOperation(ctx, req, res, location, diskJson(ctx, existing, 'Updating'), { result: () => diskJson(ctx, existing) });
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
      if (!sizeGB || !Number.isInteger(sizeGB) || sizeGB < 1 || sizeGB > 65536)
        throw new ArmError(400, 'InvalidParameter', "Required parameter 'diskSizeGB' is missing or invalid (1-65536).");
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
      let content: { size: number; extents: Extent[] };
      try {
        content = await importedContent(ctx, creation, location, name);
      } catch (e) {
        if (!(e instanceof InvalidVhd)) throw e;
        return startOperation(ctx, req, res, location, acceptedBody(id, name, location, body, props), { error: { code: 'BadRequest', message: e.message } });
      }
      sizeBytes = content.size;
      extents = content.extents;
      cd.sourceUri =
        String(creation['sourceUri']).split('?')[0]! +
        (new URL(String(creation['sourceUri'])).searchParams.get('snapshot')
          ? `?snapshot=${new URL(String(creation['sourceUri'])).searchParams.get('snapshot')}`
          : '');
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
  startOperation(ctx, req, res, location, acceptedBody(id, name, location, body, props), { result: () => diskJson(ctx, disk) });
}

function updateDisk(ctx: EmulatorContext, disk: ManagedDisk, sizeGB: number | undefined, tags: Record<string, string>): void {
  disk.tags = tags;
  if (sizeGB === undefined) return;
  const newSize = sizeGB * GIB;
  if (newSize === disk.sizeBytes) return;
  if (activeGrants(ctx, disk.id.toLowerCase()).length > 0) {
    throw new ArmError(
      409,
      'OperationNotAllowed',
      `Disk '${disk.name}' is currently being accessed through a SAS (diskState ActiveSAS). Revoke access (endGetAccess) before resizing.`,
    );
  }
  if (newSize < disk.sizeBytes) {
    throw new ArmError(400, 'BadRequest', `Disk size can only be increased: '${disk.name}' is ${Math.ceil(disk.sizeBytes / GIB)} GB, requested ${sizeGB} GB.`);
  }
  disk.extents = truncate(disk.extents, disk.sizeBytes);
  disk.sizeBytes = newSize;
  addFooter(ctx, disk.extents, newSize, disk.uniqueId, disk.timeCreated);
}

async function putSnapshot(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, rgIn: string, name: string): Promise<void> {
  // Azure's gateway answers for a missing group before the resource provider looks at the request.
  const rg = existingRg(ctx, rgIn);
  checkName(name, 'snapshot');
  const body = await readJson(req);
  const props = (body['properties'] ?? {}) as Record<string, unknown>;
  const creation = (props['creationData'] ?? {}) as Record<string, unknown>;
  const location = checkLocation(ctx, body['location']);
  const id = resourceId(ctx, rg, 'snapshots', name);
  const key = id.toLowerCase();
  const existing = ctx.state.snapshots[key];
  const tags = (body['tags'] ?? {}) as Record<string, string>;
  if (existing) {
    existing.tags = tags;
    ctx.markDirty();
    return startOperation(ctx, req, res, location, snapshotJson(ctx, existing, 'Updating'), { result: () => snapshotJson(ctx, existing) });
  }
  const option = String(creation['createOption'] ?? '');
  const incremental = props['incremental'] === true;
  const now = ctx.now();
  const skuAsked = (body['sku'] as { name?: string } | undefined)?.name;
  // Incremental snapshots always live on Standard HDD storage (Azure docs, "incremental snapshots").
  if (incremental && skuAsked && !skuAsked.startsWith('Standard_')) {
    throw new ArmError(
      400,
      'BadRequest',
      `Incremental snapshots are stored on Standard HDD storage: sku '${skuAsked}' is not supported; use Standard_ZRS or Standard_LRS.`,
    );
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
      if (disk.location !== location)
        throw new ArmError(
          400,
          'InvalidParameter',
          `A snapshot of disk '${disk.name}' must be created in its region '${disk.location}'; use CopyStart to copy it to another region.`,
        );
      if (disk.diskState === 'ReadyToUpload') throw new ArmError(409, 'OperationNotAllowed', `Disk '${disk.name}' has not been uploaded yet (ReadyToUpload).`);
      if (incremental) {
        const recent = disk.snapshotTimes.filter((t) => now - t < FIVE_MINUTES);
        if (recent.length >= LIMITS.snapshotsPer5Minutes) {
          throw new ArmError(
            409,
            'OperationNotAllowed',
            `Disk '${disk.name}' already has ${recent.length} incremental snapshots created in the last 5 minutes; at most ${LIMITS.snapshotsPer5Minutes} are allowed per 5 minutes. Retry later.`,
          );
        }
        const family = Object.values(ctx.state.snapshots).filter((s) => s.incremental && s.creationData.sourceUniqueId === disk.uniqueId);
        if (family.length >= LIMITS.snapshotsPerDisk) {
          throw new ArmError(
            409,
            'OperationNotAllowed',
            `Disk '${disk.name}' already has ${family.length} incremental snapshots; at most ${LIMITS.snapshotsPerDisk} are allowed per disk. Delete older snapshots first.`,
          );
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
      if (incremental)
        throw new ArmError(
          400,
          'BadRequest',
          'An incremental snapshot cannot be created from a snapshot with createOption Copy; use CopyStart to copy it to another region, or create a full snapshot (incremental: false).',
        );
      if (from.location !== location)
        throw new ArmError(400, 'InvalidParameter', `Snapshot '${from.name}' is in '${from.location}'; use CopyStart to copy across regions.`);
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
    const busy = Object.values(ctx.state.snapshots).some(
      (s) =>
        s.creationData.createOption === 'CopyStart' &&
        s.location === location &&
        ctx.state.snapshots[s.creationData.sourceResourceId?.toLowerCase() ?? '']?.familyId === from.familyId &&
        (copyPercent(ctx, s) ?? 100) < 100,
    );
    if (busy)
      throw new ArmError(
        409,
        'OperationNotAllowed',
        'Another CopyStart of a snapshot of this disk is in progress; copies of one disk run one at a time, in creation order.',
      );
    const running = Object.values(ctx.state.snapshots).filter(
      (s) => s.creationData.createOption === 'CopyStart' && s.location === location && (copyPercent(ctx, s) ?? 100) < 100,
    ).length;
    // At most 100 CopyStart copies run at once per subscription and target region.
    if (running >= 100)
      throw new ArmError(
        409,
        'OperationNotAllowed',
        `${running} CopyStart copies are already running into '${location}'; at most 100 run at once per subscription and region.`,
      );
    snapshot.sizeBytes = from.sizeBytes;
    snapshot.extents = from.extents.slice();
    snapshot.familyId = crypto
      .createHash('sha256')
      .update(`${from.familyId}|${location}`)
      .digest('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5');
    snapshot.creationData = { createOption: 'CopyStart', sourceResourceId: from.id, sourceUniqueId: from.uniqueId };
    const stall = ctx.faults.settings.copystall;
    if (stall > 0) {
      // Azure's CopyStart reports 0% for minutes and then 100% (docs/azure-behaviour.md#copystart): with the
      // start one millisecond before the end, the reported percentage stays 0 until it jumps to 100.
      ctx.faults.count('copystall');
      snapshot.copyDoneAt = now + Math.round(stall * 1000);
      snapshot.copyStartedAt = snapshot.copyDoneAt - 1;
    } else {
      snapshot.copyStartedAt = now;
      const used = usedBytes(from.extents);
      snapshot.copyDoneAt = now + Math.round((2000 + Math.min(8000, (used / (256 * MIB)) * 1000)) * ctx.copyTimeScale);
    }
    if (ctx.faults.chance(ctx.faults.settings.copyfail)) {
      ctx.faults.count('copyfail');
      snapshot.copyError = {
        errorCode: 'CopySourceNotFound',
        errorMessage: 'The copy failed because the source was not available. Delete this snapshot and retry the copy.',
      };
    }
    snapshot.osType = from.osType;
  } else if (option === 'Import') {
    let content: { size: number; extents: Extent[] };
    try {
      content = await importedContent(ctx, creation, location, name);
    } catch (e) {
      if (!(e instanceof InvalidVhd)) throw e;
      return startOperation(ctx, req, res, location, acceptedBody(id, name, location, body, props), { error: { code: 'BadRequest', message: e.message } });
    }
    snapshot.sizeBytes = content.size;
    snapshot.extents = content.extents;
    snapshot.incremental = false;
    if (incremental) throw new ArmError(400, 'BadRequest', 'Import creates a full snapshot; set incremental to false.');
    const u = new URL(String(creation['sourceUri']));
    snapshot.creationData = {
      createOption: 'Import',
      sourceUri: `${u.origin}${u.pathname}${u.searchParams.get('snapshot') ? `?snapshot=${u.searchParams.get('snapshot')}` : ''}`,
      storageAccountId: String(creation['storageAccountId'] ?? ''),
    };
  } else {
    throw new ArmError(400, 'InvalidParameter', `createOption '${option}' is not supported for snapshots (Copy, CopyStart, Import).`);
  }
  ctx.state.snapshots[key] = snapshot;
  ctx.markDirty();
  startOperation(ctx, req, res, location, acceptedBody(id, name, location, body, props, snapshot.creationData), { result: () => snapshotJson(ctx, snapshot) });
}

function deleteResource(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, kind: 'disks' | 'snapshots', rg: string, name: string): void {
  const key = resourceId(ctx, rg, kind, name).toLowerCase();
  const found = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
  if (!found) return json(res, 204, undefined);
  if (activeGrants(ctx, key).length > 0) {
    throw new ArmError(
      409,
      'OperationNotAllowed',
      `${kind === 'disks' ? 'Disk' : 'Snapshot'} '${found.name}' has an active SAS (diskState ActiveSAS). Revoke access (endGetAccess) before deleting it.`,
    );
  }
  if (kind === 'disks') delete ctx.state.disks[key];
  else delete ctx.state.snapshots[key];
  ctx.markDirty();
  startOperation(ctx, req, res, found.location, undefined);
}

async function grantAccess(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  kind: 'disks' | 'snapshots',
  rg: string,
  name: string,
): Promise<void> {
  const body = await readJson(req);
  const key = resourceId(ctx, rg, kind, name).toLowerCase();
  const target = kind === 'disks' ? ctx.state.disks[key] : ctx.state.snapshots[key];
  if (!target) throw new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${rg}' was not found.`);
  const access = String(body['access'] ?? '');
  const duration = Number(body['durationInSeconds'] ?? 3600);
  if (access !== 'Read' && access !== 'Write') throw new ArmError(400, 'InvalidParameter', "access must be 'Read' or 'Write'.");
  if (!Number.isFinite(duration) || duration < 1) throw new ArmError(400, 'InvalidParameter', 'durationInSeconds must be a positive number.');
  if (duration > MAX_SAS_SECONDS) {
    throw new ArmError(
      400,
      'InvalidParameter',
      `The requested SAS duration of ${duration} seconds is longer than the maximum of ${MAX_SAS_SECONDS} seconds (60 days). Request a shorter durationInSeconds.`,
    );
  }
  pruneGrants(ctx);
  let familyId: string | undefined;
  let snapshotStamp: string | undefined;
  if (kind === 'snapshots') {
    const s = target as ManagedSnapshot;
    if (access === 'Write') throw new ArmError(400, 'InvalidParameter', 'Write access can be granted on disks only.');
    const pct = copyPercent(ctx, s);
    if (pct !== undefined && pct < 100)
      throw new ArmError(409, 'OperationNotAllowed', `Snapshot '${s.name}' is still being copied (completionPercent ${pct}).`);
    familyId = s.incremental ? s.familyId : undefined;
    snapshotStamp = snapshotTime(s.timeCreated);
    if (familyId) {
      const others = Object.values(ctx.state.grants).filter((g) => g.familyId === familyId && g.resourceId !== key);
      if (others.length >= LIMITS.sasPerFamily) {
        throw new ArmError(
          409,
          'OperationNotAllowed',
          `At most ${LIMITS.sasPerFamily} SAS URIs can be active at once for the snapshots of one incremental snapshot family; ${others.length} are active. Revoke access (endGetAccess) on a snapshot of this family first.`,
        );
      }
    }
  } else {
    const d = target as ManagedDisk;
    if (d.diskState === 'ReadyToUpload' && access !== 'Write')
      throw new ArmError(409, 'OperationNotAllowed', `Disk '${d.name}' is ReadyToUpload: grant Write access to upload it.`);
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
  // beginGetAccess answers 202 with no body; the SAS is the operation's output.
  startOperation(ctx, req, res, target.location, undefined, { result: () => ({ accessSAS }) });
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
  startOperation(ctx, req, res, target.location, undefined);
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

export async function handleArmRequest(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  return withArmAuth(ctx, req, res, url, routeArm);
}

/** Checks the bearer token as ARM does, then routes; an `ArmError` becomes ARM's error response. */
export async function withArmAuth(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL, route: Handler): Promise<void> {
  try {
    const auth = String(req.headers.authorization ?? '');
    if (auth !== `Bearer ${ctx.state.token}`) {
      throw new ArmError(
        401,
        auth ? 'InvalidAuthenticationToken' : 'AuthenticationFailed',
        auth ? 'The access token is invalid.' : "Authentication failed. The 'Authorization' header is missing.",
      );
    }
    await route(ctx, req, res, url);
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

  if (lower === '/subscriptions' && method === 'GET') {
    count('ListSubscriptions');
    return json(res, 200, { value: [subscriptionJson(ctx)] });
  }
  if (lower === '/tenants' && method === 'GET') {
    return json(res, 200, {
      value: [{ id: `/tenants/${ctx.state.tenantId}`, tenantId: ctx.state.tenantId, displayName: 'Disk Delta Emulator', tenantCategory: 'Home' }],
    });
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
  if (restLower === '/providers' && method === 'GET') return json(res, 200, { value: PROVIDERS.map((p) => providerJson(ctx, p)) });
  let m = /^\/providers\/(microsoft\.[a-z]+)$/.exec(restLower);
  if (m && method === 'GET') {
    const p = PROVIDERS.find((x) => x.toLowerCase() === m![1]);
    if (!p) throw new ArmError(404, 'InvalidResourceNamespace', `The resource namespace '${rest.split('/')[2]}' is invalid.`);
    return json(res, 200, providerJson(ctx, p));
  }
  if (!throttle(ctx, req, res, restLower, method)) return;
  m = /^\/providers\/microsoft\.compute\/locations\/([^/]+)\/(?:disk)?operations\/([^/]+)$/.exec(restLower);
  if (m && method === 'GET') return operationStatus(ctx, res, rest.split('/').pop()!, url.searchParams.get('monitor') === 'true');
  m = /^\/providers\/microsoft\.compute\/(disks|snapshots)$/.exec(restLower);
  if (m && method === 'GET') {
    count(`List${m[1] === 'disks' ? 'Disks' : 'Snapshots'}`);
    return listPage(ctx, res, url, listOf(ctx, m[1] as 'disks' | 'snapshots'));
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
  if (tailLower === '/providers/microsoft.authorization/permissions' && method === 'GET') {
    // The emulator's one identity holds every role (Owner): everything is allowed.
    return json(res, 200, { value: [{ actions: ['*'], notActions: [], dataActions: ['*'], notDataActions: [] }] });
  }
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
    return listPage(
      ctx,
      res,
      url,
      listOf(ctx, kind).filter((r) => (r as { id: string }).id.toLowerCase().includes(`/resourcegroups/${rg.toLowerCase()}/`)),
    );
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
      if (!r)
        throw new ArmError(
          404,
          'ResourceNotFound',
          `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
        );
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
      const read = (): unknown => (kind === 'disks' ? diskJson(ctx, r as ManagedDisk) : snapshotJson(ctx, r as ManagedSnapshot));
      return startOperation(
        ctx,
        req,
        res,
        r.location,
        kind === 'disks' ? diskJson(ctx, r as ManagedDisk, 'Updating') : snapshotJson(ctx, r as ManagedSnapshot, 'Updating'),
        { result: read },
      );
    }
    case 'DELETE':
      count(`Delete${label}`);
      return deleteResource(ctx, req, res, kind, rg, name);
  }
  throw new ArmError(405, 'MethodNotAllowed', 'Method not allowed.');
}

function listOf(ctx: EmulatorContext, kind: 'disks' | 'snapshots'): unknown[] {
  if (kind === 'disks')
    return Object.values(ctx.state.disks)
      .sort((a, b) => a.timeCreated - b.timeCreated)
      .map((d) => diskJson(ctx, d));
  return Object.values(ctx.state.snapshots)
    .sort((a, b) => a.timeCreated - b.timeCreated)
    .map((s) => snapshotJson(ctx, s));
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
  return {
    id: `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${name}`,
    name,
    type: 'Microsoft.Resources/resourceGroups',
    location,
    properties: { provisioningState: 'Succeeded' },
  };
}

/** Lists are paged with `nextLink` like Azure's; a page holds at most this many resources. */
const LIST_PAGE_SIZE = 200;

function listPage(ctx: EmulatorContext, res: ServerResponse, url: URL, all: unknown[]): void {
  const skip = Math.max(0, Number(url.searchParams.get('$skiptoken') ?? 0) || 0);
  const value = all.slice(skip, skip + LIST_PAGE_SIZE);
  const next = skip + LIST_PAGE_SIZE < all.length ? new URL(url.pathname + url.search, ctx.origin) : undefined;
  next?.searchParams.set('$skiptoken', String(skip + LIST_PAGE_SIZE));
  json(res, 200, { value, ...(next ? { nextLink: next.toString() } : {}) });
}

/** The resource providers the emulator answers for, all registered. */
const PROVIDERS = ['Microsoft.Compute', 'Microsoft.Storage', 'Microsoft.Resources'];

function providerJson(ctx: EmulatorContext, namespace: string): unknown {
  const types: Record<string, string[]> = {
    'Microsoft.Compute': ['disks', 'snapshots', 'locations', 'locations/diskoperations'],
    'Microsoft.Storage': ['storageAccounts', 'locations'],
    'Microsoft.Resources': ['resourceGroups', 'subscriptions'],
  };
  return {
    id: `/subscriptions/${ctx.state.subscriptionId}/providers/${namespace}`,
    namespace,
    registrationState: 'Registered',
    registrationPolicy: 'RegistrationRequired',
    resourceTypes: (types[namespace] ?? []).map((resourceType) => ({ resourceType, locations: ctx.state.regions, apiVersions: ['2026-03-02'] })),
  };
}

/** Which Microsoft.Compute bucket a request draws from (docs/azure-behaviour.md#arm-throttling). */
function operationGroup(restLower: string, method: string): ArmOperationGroup | undefined {
  if (!restLower.includes('/providers/microsoft.compute/')) return undefined;
  if (/\/operations\/|\/diskoperations\//.test(restLower)) return 'GetOperation';
  if (method === 'GET') return /\/(disks|snapshots)\/[^/]+$/.test(restLower) ? 'LowCostGet' : 'GetDisk';
  if (method === 'DELETE') return 'DeleteDisks';
  if (/\/snapshots\//.test(restLower) || /\/(begingetaccess|endgetaccess)$/.test(restLower)) return 'HighCostSnapshotCreateHydrate';
  return 'CreateUpdateDisks';
}

/**
 * Takes a request from its bucket and puts the remaining counts on the answer; answers 429 with
 * `Retry-After` when the bucket is empty (only under `armthrottle`). Returns false when it answered.
 */
function throttle(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, restLower: string, method: string): boolean {
  const group = operationGroup(restLower, method);
  if (!group) return true;
  ctx.armLimits.configure(ctx.faults.settings.armthrottle);
  const d = ctx.armLimits.take(group);
  res.setHeader('x-ms-ratelimit-remaining-resource', d.remaining);
  if (d.allowed) return true;
  ctx.faults.count('armthrottle');
  ctx.countRequest('arm:Throttled');
  if (!req.readableEnded) req.resume();
  // The shape of Microsoft.Compute's 429 (docs/azure-behaviour.md#arm-throttling).
  json(
    res,
    429,
    {
      error: {
        code: 'OperationNotAllowed',
        message: 'The server rejected the request because too many requests have been received for this subscription.',
        details: [
          {
            code: 'TooManyRequests',
            target: `${group}3Min`,
            message: JSON.stringify({
              operationGroup: `${group}3Min`,
              startTime: new Date(ctx.now()).toISOString(),
              endTime: new Date(ctx.now() + d.retryAfterSeconds * 1000).toISOString(),
              allowedRequestCount: ctx.faults.settings.armthrottle,
              measuredRequestCount: ctx.faults.settings.armthrottle + 1,
            }),
          },
        ],
      },
    },
    { 'retry-after': String(d.retryAfterSeconds) },
  );
  return false;
}
