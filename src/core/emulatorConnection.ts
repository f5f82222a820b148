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
