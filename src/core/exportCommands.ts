/**
 * "Show as az command" and "Show as ARM template": the same request the user built in Disk Delta, as an
 * Azure CLI line for bash or as a deployable ARM template.
 */
import type { SnapshotInfo } from './model';
import type { CreateDiskRequest, CreateSnapshotRequest } from './ports';
import { DiskDeltaError } from './errors';
import { redact } from './secret';

/**
 * Microsoft.Compute disk resource provider api-version used in templates: a published version with
 * `incremental`, `CopyStart` and `incrementalSnapshotFamilyId` — learn.microsoft.com/rest/api/compute/snapshots/create-or-update?api-version=2024-03-02.
 */
export const COMPUTE_DISK_API_VERSION = '2024-03-02';
/** ARM: resource-group deployment template schema — learn.microsoft.com/azure/azure-resource-manager/templates/syntax. */
export const DEPLOYMENT_TEMPLATE_SCHEMA = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';

/** Quotes one argument for bash: bare when it is plainly safe, else in single quotes. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export interface CommandFormat {
  /** Put each option on its own line with ` \` continuations (easier to read in an editor). */
  readonly multiline?: boolean;
}

function render(words: string[][], format?: CommandFormat): string {
  const parts = words.map((w) => w.map(shellQuote).join(' '));
  return format?.multiline ? parts.join(' \\\n  ') : parts.join(' ');
}

function tagWords(tags: Record<string, string> | undefined): string[][] {
  const entries = Object.entries(tags ?? {});
  return entries.length ? [['--tags', ...entries.map(([k, v]) => `${k}=${v}`)]] : [];
}

function common(req: { subscriptionId?: string; resourceGroup: string; name: string; location: string }): string[][] {
  const words: string[][] = [];
  if (req.subscriptionId) words.push(['--subscription', req.subscriptionId]);
  words.push(['--resource-group', req.resourceGroup], ['--name', req.name], ['--location', req.location]);
  return words;
}

function requireField(value: string | undefined, what: string): string {
  if (!value) throw new DiskDeltaError(`The request has no ${what}.`, 'InvalidRequest');
  return value;
}

/** A URL without its SAS (a blob snapshot keeps its `snapshot` parameter). */
function safeUri(uri: string): string {
  return redact(uri);
}

/** `az snapshot create ...` for an incremental or full snapshot (Copy, CopyStart or Import). */
export function azSnapshotCreate(req: CreateSnapshotRequest, format?: CommandFormat): string {
  const words: string[][] = [['az', 'snapshot', 'create'], ...common(req)];
  if (req.createOption === 'Import') {
    words.push(['--source', safeUri(requireField(req.sourceUri, 'source blob URL'))]);
    words.push(['--source-storage-account-id', requireField(req.storageAccountId, 'storage account id')]);
  } else {
    words.push(['--source', requireField(req.sourceResourceId, 'source disk or snapshot id')]);
  }
  words.push(['--incremental', String(req.incremental)]);
  // Azure: CopyStart copies an incremental snapshot to another region in the background — docs/azure-behaviour.md#copystart.
  if (req.createOption === 'CopyStart') words.push(['--copy-start', 'true']);
  if (req.sku) words.push(['--sku', req.sku]);
  words.push(...tagWords(req.tags));
  return render(words, format);
}

/** `az disk create ...` for a disk restored from a snapshot (Copy), imported from a blob, or empty. */
export function azDiskCreate(req: CreateDiskRequest, format?: CommandFormat): string {
  const words: string[][] = [['az', 'disk', 'create'], ...common(req)];
  switch (req.createOption) {
    case 'Copy':
      words.push(['--source', requireField(req.sourceResourceId, 'source snapshot id')]);
      break;
    case 'Import':
      words.push(['--source', safeUri(requireField(req.sourceUri, 'source blob URL'))]);
      words.push(['--source-storage-account-id', requireField(req.storageAccountId, 'storage account id')]);
      break;
    case 'Upload':
      words.push(['--for-upload', 'true'], ['--upload-size-bytes', String(req.uploadSizeBytes ?? 0)]);
      break;
    case 'Empty':
      break;
  }
  if (req.diskSizeGB !== undefined) words.push(['--size-gb', String(req.diskSizeGB)]);
  if (req.sku) words.push(['--sku', req.sku]);
  words.push(...tagWords(req.tags));
  return render(words, format);
}

/** The restore line: `az disk create --source <snapshot id> ...`. */
export function azDiskCreateFromSnapshot(req: CreateDiskRequest, format?: CommandFormat): string {
  if (req.createOption !== 'Copy') throw new DiskDeltaError('A restore creates the disk with createOption Copy.', 'InvalidRequest');
  return azDiskCreate(req, format);
}

export interface ArmParameter {
  readonly type: 'string' | 'int' | 'bool' | 'object';
  readonly defaultValue?: unknown;
  readonly allowedValues?: readonly unknown[];
  readonly metadata?: { readonly description: string };
}

export interface ArmResource {
  readonly type: 'Microsoft.Compute/snapshots' | 'Microsoft.Compute/disks';
  readonly apiVersion: string;
  readonly name: string;
  readonly location: string;
  readonly tags?: Record<string, string>;
  readonly sku?: { readonly name: string };
  readonly properties: Record<string, unknown>;
}

export interface ArmTemplate {
  readonly $schema: string;
  readonly contentVersion: string;
  readonly parameters: Record<string, ArmParameter>;
  readonly resources: readonly ArmResource[];
  readonly outputs: Record<string, { readonly type: 'string'; readonly value: string }>;
}

/** ARM: a literal string that starts with `[` must be written `[[` or it is read as an expression — ARM template syntax docs. */
function armLiteral(value: string): string {
  return value.startsWith('[') ? `[${value}` : value;
}

function armTags(tags: Record<string, string> | undefined): Record<string, string> | undefined {
  const entries = Object.entries(tags ?? {});
  return entries.length ? Object.fromEntries(entries.map(([k, v]) => [armLiteral(k), armLiteral(v)])) : undefined;
}

function stringParam(value: string, description: string, allowedValues?: readonly string[]): ArmParameter {
  return { type: 'string', defaultValue: armLiteral(value), ...(allowedValues ? { allowedValues } : {}), metadata: { description } };
}

function creationData(
  req: { createOption: string; sourceResourceId?: string; sourceUri?: string; storageAccountId?: string; uploadSizeBytes?: number },
  parameters: Record<string, ArmParameter>,
): Record<string, unknown> {
  const data: Record<string, unknown> = { createOption: req.createOption };
  if (req.createOption === 'Copy' || req.createOption === 'CopyStart') {
    parameters.sourceResourceId = stringParam(requireField(req.sourceResourceId, 'source id'), 'Id of the disk or snapshot to copy.');
    data.sourceResourceId = "[parameters('sourceResourceId')]";
  } else if (req.createOption === 'Import') {
    parameters.sourceUri = stringParam(safeUri(requireField(req.sourceUri, 'source blob URL')), 'URL of the page blob (or blob snapshot) holding a fixed VHD.');
    parameters.storageAccountId = stringParam(requireField(req.storageAccountId, 'storage account id'), 'Id of the storage account holding the blob.');
    data.sourceUri = "[parameters('sourceUri')]";
    data.storageAccountId = "[parameters('storageAccountId')]";
  } else if (req.createOption === 'Upload') {
    data.uploadSizeBytes = req.uploadSizeBytes;
  }
  return data;
}

/** A deployable template creating the snapshot of `req` (incremental or full; Copy, CopyStart or Import). */
export function armSnapshotTemplate(req: CreateSnapshotRequest): ArmTemplate {
  const parameters: Record<string, ArmParameter> = {
    snapshotName: stringParam(req.name, 'Name of the snapshot.'),
    location: stringParam(req.location, 'Region of the snapshot.'),
  };
  const data = creationData(req, parameters);
  if (req.sku) {
    // Azure: incremental snapshots live on Standard HDD storage, ZRS where the region has it, else LRS — docs/azure-behaviour.md#incremental-snapshots.
    const allowed = req.incremental ? ['Standard_ZRS', 'Standard_LRS'] : undefined;
    parameters.sku = stringParam(req.sku, 'Storage of the snapshot.', allowed && allowed.includes(req.sku) ? allowed : undefined);
  }
  const tags = armTags(req.tags);
  const resource: ArmResource = {
    type: 'Microsoft.Compute/snapshots',
    apiVersion: COMPUTE_DISK_API_VERSION,
    name: "[parameters('snapshotName')]",
    location: "[parameters('location')]",
    ...(tags ? { tags } : {}),
    ...(req.sku ? { sku: { name: "[parameters('sku')]" } } : {}),
    properties: { incremental: req.incremental, creationData: data },
  };
  return {
    $schema: DEPLOYMENT_TEMPLATE_SCHEMA,
    contentVersion: '1.0.0.0',
    parameters,
    resources: [resource],
    outputs: { snapshotId: { type: 'string', value: "[resourceId('Microsoft.Compute/snapshots', parameters('snapshotName'))]" } },
  };
}

/** A deployable template creating the disk of `req` (a restore from a snapshot is createOption Copy). */
export function armDiskTemplate(req: CreateDiskRequest): ArmTemplate {
  const parameters: Record<string, ArmParameter> = {
    diskName: stringParam(req.name, 'Name of the disk.'),
    location: stringParam(req.location, 'Region of the disk.'),
  };
  const data = creationData(req, parameters);
  const properties: Record<string, unknown> = { creationData: data };
  if (req.diskSizeGB !== undefined) {
    parameters.diskSizeGB = { type: 'int', defaultValue: req.diskSizeGB, metadata: { description: 'Size of the disk in GiB.' } };
    properties.diskSizeGB = "[parameters('diskSizeGB')]";
  }
  if (req.sku) parameters.sku = stringParam(req.sku, 'Disk type, such as Premium_LRS or StandardSSD_ZRS.');
  const tags = armTags(req.tags);
  const resource: ArmResource = {
    type: 'Microsoft.Compute/disks',
    apiVersion: COMPUTE_DISK_API_VERSION,
    name: "[parameters('diskName')]",
    location: "[parameters('location')]",
    ...(tags ? { tags } : {}),
    ...(req.sku ? { sku: { name: "[parameters('sku')]" } } : {}),
    properties,
  };
  return {
    $schema: DEPLOYMENT_TEMPLATE_SCHEMA,
    contentVersion: '1.0.0.0',
    parameters,
    resources: [resource],
    outputs: { diskId: { type: 'string', value: "[resourceId('Microsoft.Compute/disks', parameters('diskName'))]" } },
  };
}

/** The template as the JSON text shown in an editor. */
export function formatArmTemplate(template: ArmTemplate): string {
  return `${JSON.stringify(template, null, 2)}\n`;
}

export interface RestoreChoice {
  readonly name: string;
  /** Defaults to the snapshot's resource group. */
  readonly resourceGroup?: string;
  readonly sku?: string;
  readonly diskSizeGB?: number;
  readonly tags?: Record<string, string>;
}

/** The request for "Restore Disk from Snapshot": a disk in the snapshot's region, created by Copy. */
export function restoreDiskRequest(snapshot: SnapshotInfo, choice: RestoreChoice): CreateDiskRequest {
  return {
    subscriptionId: snapshot.subscriptionId,
    resourceGroup: choice.resourceGroup ?? snapshot.resourceGroup,
    name: choice.name,
    location: snapshot.location,
    createOption: 'Copy',
    sourceResourceId: snapshot.id,
    ...(choice.sku ? { sku: choice.sku } : {}),
    ...(choice.diskSizeGB !== undefined ? { diskSizeGB: choice.diskSizeGB } : {}),
    ...(choice.tags ? { tags: choice.tags } : {}),
  };
}

/** The request for "Create Full Snapshot": a full (non-incremental) copy of a snapshot, in its region. */
export function fullSnapshotRequest(
  snapshot: SnapshotInfo,
  choice: { name: string; resourceGroup?: string; sku?: string; tags?: Record<string, string> },
): CreateSnapshotRequest {
  return {
    subscriptionId: snapshot.subscriptionId,
    resourceGroup: choice.resourceGroup ?? snapshot.resourceGroup,
    name: choice.name,
    location: snapshot.location,
    incremental: false,
    createOption: 'Copy',
    sourceResourceId: snapshot.id,
    ...(choice.sku ? { sku: choice.sku } : {}),
    ...(choice.tags ? { tags: choice.tags } : {}),
  };
}
