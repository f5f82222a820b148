/**
 * Azure clouds: the public cloud, Azure China (21Vianet), Azure US Government and custom (Azure Stack
 * Hub style) clouds, chosen by the setting Microsoft's Azure extensions and VS Code's Microsoft sign-in
 * read: `microsoft-sovereign-cloud.environment` ("ChinaCloud", "USGovernment", "custom") with
 * `microsoft-sovereign-cloud.customEnvironment` for "custom". Endpoints from @azure/ms-rest-azure-env
 * (lib/azureEnvironment.ts) - docs/azure-behaviour.md#sovereign-clouds.
 */
import { DiskDeltaError } from './errors';

export interface CloudEnvironment {
  /** "AzureCloud", "AzureChinaCloud", "AzureUSGovernment" or the custom cloud's name. */
  readonly name: string;
  /** Portal, no trailing slash, e.g. https://portal.azure.cn */
  readonly portalUrl: string;
  /** ARM, no trailing slash, e.g. https://management.chinacloudapi.cn */
  readonly resourceManagerEndpointUrl: string;
  /** Entra ID authority host, no trailing slash, e.g. https://login.chinacloudapi.cn */
  readonly activeDirectoryEndpointUrl: string;
  /** Blob endpoints are https://<account>.blob.<suffix>/, e.g. core.chinacloudapi.cn */
  readonly storageEndpointSuffix: string;
  readonly isCustomCloud: boolean;
}

export const AZURE_PUBLIC_CLOUD: CloudEnvironment = {
  name: 'AzureCloud',
  portalUrl: 'https://portal.azure.com',
  resourceManagerEndpointUrl: 'https://management.azure.com',
  activeDirectoryEndpointUrl: 'https://login.microsoftonline.com',
  storageEndpointSuffix: 'core.windows.net',
  isCustomCloud: false,
};

export const AZURE_CHINA_CLOUD: CloudEnvironment = {
  name: 'AzureChinaCloud',
  portalUrl: 'https://portal.azure.cn',
  resourceManagerEndpointUrl: 'https://management.chinacloudapi.cn',
  activeDirectoryEndpointUrl: 'https://login.chinacloudapi.cn',
  storageEndpointSuffix: 'core.chinacloudapi.cn',
  isCustomCloud: false,
};

export const AZURE_US_GOVERNMENT: CloudEnvironment = {
  name: 'AzureUSGovernment',
  portalUrl: 'https://portal.azure.us',
  resourceManagerEndpointUrl: 'https://management.usgovcloudapi.net',
  activeDirectoryEndpointUrl: 'https://login.microsoftonline.us',
  storageEndpointSuffix: 'core.usgovcloudapi.net',
  isCustomCloud: false,
};

function trimSlash(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

function httpsUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^https:\/\/[^\s/]+/i.test(value.trim())) {
    throw new DiskDeltaError(
      `microsoft-sovereign-cloud.customEnvironment.${field} is missing or not an https URL.`,
      'InvalidCloudSetting',
      `Set ${field} in the microsoft-sovereign-cloud.customEnvironment setting (as the Azure extensions need it).`,
    );
  }
  return trimSlash(value);
}

/**
 * The cloud of the settings' values (`environment`, `customEnvironment`), as the Azure extensions read
 * them: anything but the three known values means the public cloud.
 */
export function cloudFromSettings(environment: unknown, customEnvironment?: unknown): CloudEnvironment {
  if (environment === 'ChinaCloud') return AZURE_CHINA_CLOUD;
  if (environment === 'USGovernment') return AZURE_US_GOVERNMENT;
  if (environment !== 'custom') return AZURE_PUBLIC_CLOUD;
  if (typeof customEnvironment !== 'object' || customEnvironment === null) {
    throw new DiskDeltaError(
      'The custom cloud is chosen (microsoft-sovereign-cloud.environment = "custom") but microsoft-sovereign-cloud.customEnvironment is not set.',
      'InvalidCloudSetting',
      "Set microsoft-sovereign-cloud.customEnvironment to the cloud's endpoints, or choose another environment.",
    );
  }
  const c = customEnvironment as Record<string, unknown>;
  const arm = httpsUrl(c['resourceManagerEndpointUrl'], 'resourceManagerEndpointUrl');
  const suffix =
    typeof c['storageEndpointSuffix'] === 'string' && c['storageEndpointSuffix'].trim() ? c['storageEndpointSuffix'].trim().replace(/^\.+/, '') : undefined;
  if (!suffix) {
    throw new DiskDeltaError(
      "microsoft-sovereign-cloud.customEnvironment.storageEndpointSuffix is not set: Disk Delta cannot tell where the cloud's blob endpoints are.",
      'InvalidCloudSetting',
      'Add storageEndpointSuffix (e.g. "local.azurestack.external") to the microsoft-sovereign-cloud.customEnvironment setting.',
    );
  }
  return {
    name: typeof c['name'] === 'string' && c['name'].trim() ? c['name'].trim() : 'custom',
    portalUrl: httpsUrl(c['portalUrl'], 'portalUrl'),
    resourceManagerEndpointUrl: arm,
    activeDirectoryEndpointUrl: httpsUrl(c['activeDirectoryEndpointUrl'], 'activeDirectoryEndpointUrl'),
    storageEndpointSuffix: suffix,
    isCustomCloud: true,
  };
}

/**
 * The portal page of a resource (subscription, resource group or resource id), in the directory given
 * when known - the link form the Azure extensions open: `<portal>/#@<tenant>/resource<id>`.
 */
export function portalUrlOf(cloud: CloudEnvironment, id: string, tenantId?: string): string {
  const path = id.startsWith('/') ? id : `/${id}`;
  return `${trimSlash(cloud.portalUrl)}/#${tenantId ? `@${tenantId}/` : ''}resource${path}`;
}

/** The token scope for ARM in that cloud (`<arm>/.default`). */
export function armScope(cloud: CloudEnvironment): string {
  return `${trimSlash(cloud.resourceManagerEndpointUrl)}/.default`;
}

/** A storage account's blob endpoint in that cloud (used when ARM did not report primaryEndpoints). */
export function blobEndpointOf(cloud: CloudEnvironment, accountName: string): string {
  return `https://${accountName}.blob.${cloud.storageEndpointSuffix}/`;
}
