import { readFile } from 'node:fs/promises';
import { DiskDeltaError } from './errors';

/** The connection file the emulator writes when it is ready (`--connection-file`). */
export interface EmulatorStorageAccount {
  readonly name: string;
  readonly region: string;
  readonly resourceId: string;
  readonly resourceGroup: string;
  readonly blobEndpoint: string;
  readonly accountKey: string;
}

export interface EmulatorConnection {
  readonly armEndpoint: string;
  readonly caCertPath: string;
  readonly token: string;
  readonly tenantId: string;
  readonly subscriptionId: string;
  readonly storageAccounts: readonly EmulatorStorageAccount[];
}

function fail(path: string, what: string): never {
  throw new DiskDeltaError(
    `The emulator connection file ${path} ${what}.`,
    'InvalidConnectionFile',
    'Start the emulator with `npx disk-delta-emulator --connection-file <path>` and pass that path.',
  );
}

/** Checks a connection file's text; every problem is reported as a DiskDeltaError, never a crash. */
export function parseEmulatorConnection(text: string, path: string): EmulatorConnection {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail(path, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'does not hold a JSON object');
  const o = value as Record<string, unknown>;
  for (const key of ['armEndpoint', 'caCertPath', 'token', 'tenantId', 'subscriptionId'] as const) {
    if (typeof o[key] !== 'string' || (o[key] as string).length === 0) fail(path, `has no "${key}"`);
  }
  if (!/^https:\/\//.test(o.armEndpoint as string)) fail(path, 'has an armEndpoint that is not an https URL');
  if (!Array.isArray(o.storageAccounts)) fail(path, 'has no "storageAccounts" list');
  const accounts = (o.storageAccounts as unknown[]).map((a, i) => {
    const r = (a ?? {}) as Record<string, unknown>;
    for (const key of ['name', 'region', 'resourceId', 'resourceGroup', 'blobEndpoint', 'accountKey'] as const) {
      if (typeof r[key] !== 'string') fail(path, `has a storage account (#${i + 1}) without "${key}"`);
    }
    return r as unknown as EmulatorStorageAccount;
  });
  return { ...(o as unknown as EmulatorConnection), storageAccounts: accounts };
}

/**
 * Reads and checks a connection file and the CA certificate it names. Every problem (missing file,
 * bad JSON, missing field, unreadable certificate) is a DiskDeltaError that says what to do.
 */
export async function readEmulatorConnectionFile(path: string): Promise<{ connection: EmulatorConnection; ca: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new DiskDeltaError(
      `The emulator connection file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
      'ConnectionFileMissing',
      'Start the emulator (npm start, or npx disk-delta-emulator --connection-file <path>) and pass that path.',
    );
  }
  const connection = parseEmulatorConnection(text, path);
  try {
    return { connection, ca: await readFile(connection.caCertPath, 'utf8') };
  } catch {
    throw new DiskDeltaError(
      `The emulator's CA certificate ${connection.caCertPath} cannot be read.`,
      'ConnectionFileInvalid',
      'Is the emulator still running? Start it again and use its new connection file.',
    );
  }
}
