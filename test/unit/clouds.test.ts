import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AZURE_PUBLIC_CLOUD, armScope, blobEndpointOf, cloudFromSettings, portalUrlOf } from '../../src/core/clouds';
import { DiskDeltaError } from '../../src/core/errors';

const DISK = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/prod/providers/Microsoft.Compute/disks/orders-db';

void describe('clouds from the microsoft-sovereign-cloud settings', () => {
  void it('is the public cloud when nothing (or something unknown) is set', () => {
    assert.equal(cloudFromSettings(undefined), AZURE_PUBLIC_CLOUD);
    assert.equal(cloudFromSettings(''), AZURE_PUBLIC_CLOUD);
    assert.equal(cloudFromSettings('AzureCloud'), AZURE_PUBLIC_CLOUD);
  });

  void it('knows Azure China and Azure US Government endpoints', () => {
    const cn = cloudFromSettings('ChinaCloud');
    assert.equal(cn.portalUrl, 'https://portal.azure.cn');
    assert.equal(cn.resourceManagerEndpointUrl, 'https://management.chinacloudapi.cn');
    assert.equal(cn.activeDirectoryEndpointUrl, 'https://login.chinacloudapi.cn');
    assert.equal(cn.storageEndpointSuffix, 'core.chinacloudapi.cn');
    const us = cloudFromSettings('USGovernment');
    assert.equal(us.portalUrl, 'https://portal.azure.us');
    assert.equal(us.resourceManagerEndpointUrl, 'https://management.usgovcloudapi.net');
    assert.equal(us.activeDirectoryEndpointUrl, 'https://login.microsoftonline.us');
    assert.equal(blobEndpointOf(us, 'backups'), 'https://backups.blob.core.usgovcloudapi.net/');
    assert.equal(armScope(us), 'https://management.usgovcloudapi.net/.default');
  });

  void it('reads a custom cloud from customEnvironment, trailing slashes trimmed', () => {
    const c = cloudFromSettings('custom', {
      name: 'AzureStackLab',
      portalUrl: 'https://portal.local.azurestack.external/',
      resourceManagerEndpointUrl: 'https://management.local.azurestack.external/',
      activeDirectoryEndpointUrl: 'https://login.microsoftonline.com/',
      storageEndpointSuffix: '.local.azurestack.external',
    });
    assert.equal(c.isCustomCloud, true);
    assert.equal(c.name, 'AzureStackLab');
    assert.equal(c.resourceManagerEndpointUrl, 'https://management.local.azurestack.external');
    assert.equal(armScope(c), 'https://management.local.azurestack.external/.default');
    assert.equal(blobEndpointOf(c, 'acct'), 'https://acct.blob.local.azurestack.external/');
    assert.equal(portalUrlOf(c, DISK), `https://portal.local.azurestack.external/#resource${DISK}`);
  });

  void it('refuses a custom cloud without its endpoints, naming the missing field', () => {
    assert.throws(
      () => cloudFromSettings('custom'),
      (e: unknown) => e instanceof DiskDeltaError && /customEnvironment is not set/.test(e.message),
    );
    assert.throws(
      () => cloudFromSettings('custom', { portalUrl: 'https://p', activeDirectoryEndpointUrl: 'https://l', storageEndpointSuffix: 'x' }),
      (e: unknown) => e instanceof DiskDeltaError && /resourceManagerEndpointUrl/.test(e.message) && e.code === 'InvalidCloudSetting',
    );
    assert.throws(
      () => cloudFromSettings('custom', { portalUrl: 'https://p', resourceManagerEndpointUrl: 'https://m', activeDirectoryEndpointUrl: 'https://l' }),
      (e: unknown) => e instanceof DiskDeltaError && /storageEndpointSuffix/.test(e.message),
    );
  });
});

void describe('portal links', () => {
  void it('points to the portal of the cloud, in the directory when known', () => {
    assert.equal(portalUrlOf(AZURE_PUBLIC_CLOUD, DISK, 'tenant-1'), `https://portal.azure.com/#@tenant-1/resource${DISK}`);
    assert.equal(portalUrlOf(cloudFromSettings('ChinaCloud'), DISK), `https://portal.azure.cn/#resource${DISK}`);
    assert.equal(portalUrlOf(cloudFromSettings('USGovernment'), '/subscriptions/s1', 't'), 'https://portal.azure.us/#@t/resource/subscriptions/s1');
  });
});
