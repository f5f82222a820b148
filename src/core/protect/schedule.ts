/**
 * `protect schedule`: ready definitions that run `protect run` from the CLI image (the repository's
 * Dockerfile) on a schedule derived from the tightest RPO of the file, signing in with workload identity /
 * OIDC federation (no secret stored anywhere).
 */
import type { PolicyFile } from './policy';

export type ScheduleKind = 'github-actions' | 'azure-pipelines' | 'k8s-cronjob' | 'container-apps-job';

export interface ScheduleOptions {
  /** The policy path as the scheduled job sees it, relative to the repository (or the mounted folder). */
  readonly policyPath: string;
  /** The CLI image built from the Dockerfile. */
  readonly image: string;
  /** Kubernetes: pods of the Indexed Job, each taking `--shard <completion index>/<shards>`. */
  readonly shards: number;
}

const MINUTE_STEPS = [5, 6, 10, 12, 15, 20, 30];
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];

/**
 * A run every quarter of the tightest RPO (at least every 5 minutes, at most daily), rounded down to a step
 * cron can keep evenly: a failed or busy pass is retried three times before the RPO is missed.
 */
export function scheduleInterval(rpoSeconds: number): { cron: string; minutes: number } {
  const minutes = Math.max(5, Math.floor(rpoSeconds / 4 / 60));
  if (minutes < 60) {
    const step = [...MINUTE_STEPS].reverse().find((s) => s <= minutes) ?? 5;
    return { cron: `*/${step} * * * *`, minutes: step };
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    const step = [...HOUR_STEPS].reverse().find((s) => s <= hours) ?? 1;
    return { cron: step === 1 ? '0 * * * *' : `0 */${step} * * *`, minutes: step * 60 };
  }
  return { cron: '0 0 * * *', minutes: 1440 };
}

function q(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function scheduleDefinition(kind: ScheduleKind, file: PolicyFile, options: ScheduleOptions): string {
  const rpo = Math.min(...file.policies.map((p) => p.rpoSeconds));
  const { cron, minutes } = scheduleInterval(rpo);
  const names = file.policies.map((p) => p.name).join(', ');
  const header = `# disk-delta protect run for ${names}: every ${minutes} min (a quarter of the tightest RPO, ${Math.round(rpo / 60)} min).`;
  const policy = options.policyPath;
  switch (kind) {
    case 'github-actions':
      return [
        header,
        '# Sign-in: OIDC federation. Create a federated credential for this repository on an Entra app or',
        '# user-assigned identity and set the variables AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_SUBSCRIPTION_ID.',
        'name: disk-delta protect',
        'on:',
        '  schedule:',
        `    - cron: ${q(cron)}`,
        '  workflow_dispatch: {}',
        'permissions:',
        '  id-token: write',
        '  contents: read',
        'concurrency:',
        '  group: disk-delta-protect',
        '  cancel-in-progress: false',
        'jobs:',
        '  protect:',
        '    runs-on: ubuntu-latest',
        `    timeout-minutes: ${Math.max(10, Math.floor(rpo / 60))}`,
        '    steps:',
        '      - uses: actions/checkout@v4',
        '      - name: Federated token (OIDC)',
        '        run: |',
        '          curl -sSf -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \\',
        '            "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=api://AzureADTokenExchange" | jq -r .value > "$RUNNER_TEMP/azure-token"',
        '      - name: disk-delta protect run',
        '        env:',
        '          AZURE_CLIENT_ID: ${{ vars.AZURE_CLIENT_ID }}',
        '          AZURE_TENANT_ID: ${{ vars.AZURE_TENANT_ID }}',
        '          AZURE_SUBSCRIPTION_ID: ${{ vars.AZURE_SUBSCRIPTION_ID }}',
        '        run: |',
        '          docker run --rm -v "$PWD:/work:ro" -v "$RUNNER_TEMP/azure-token:/var/run/azure-token:ro" \\',
        '            -e AZURE_CLIENT_ID -e AZURE_TENANT_ID -e AZURE_SUBSCRIPTION_ID -e AZURE_FEDERATED_TOKEN_FILE=/var/run/azure-token \\',
        `            ${options.image} protect run --policy ${q(`/work/${policy}`)} --json`,
        '',
      ].join('\n');
    case 'azure-pipelines':
      return [
        header,
        '# Sign-in: an Azure Resource Manager service connection with workload identity federation',
        '# (named disk-delta here); its federated token is handed to the CLI image.',
        'trigger: none',
        'schedules:',
        `  - cron: ${q(cron)}`,
        '    displayName: disk-delta protect run',
        '    branches:',
        '      include: [main]',
        '    always: true',
        'pool:',
        '  vmImage: ubuntu-latest',
        'steps:',
        '  - task: AzureCLI@2',
        '    displayName: disk-delta protect run',
        `    timeoutInMinutes: ${Math.max(10, Math.floor(rpo / 60))}`,
        '    inputs:',
        '      azureSubscription: disk-delta',
        '      scriptType: bash',
        '      scriptLocation: inlineScript',
        '      addSpnToEnvironment: true',
        '      inlineScript: |',
        '        printf %s "$idToken" > "$(Agent.TempDirectory)/azure-token"',
        '        docker run --rm -v "$(Build.SourcesDirectory):/work:ro" -v "$(Agent.TempDirectory)/azure-token:/var/run/azure-token:ro" \\',
        '          -e AZURE_CLIENT_ID="$servicePrincipalId" -e AZURE_TENANT_ID="$tenantId" \\',
        '          -e AZURE_SUBSCRIPTION_ID="$(az account show --query id -o tsv)" -e AZURE_FEDERATED_TOKEN_FILE=/var/run/azure-token \\',
        `          ${options.image} protect run --policy ${q(`/work/${policy}`)} --json`,
        '',
      ].join('\n');
    case 'k8s-cronjob':
      return [
        header,
        `# An Indexed Job of ${options.shards} pods: each takes --shard <its completion index>/${options.shards}, so the`,
        '# disks split deterministically; blob leases keep overlapping runs apart. Sign-in: Azure AD Workload',
        '# Identity (a service account federated with a user-assigned identity). The policy comes from a ConfigMap:',
        `#   kubectl create configmap disk-delta-policy --from-file=policy.yaml=${policy}`,
        'apiVersion: batch/v1',
        'kind: CronJob',
        'metadata:',
        '  name: disk-delta-protect',
        'spec:',
        `  schedule: ${q(cron)}`,
        '  concurrencyPolicy: Forbid',
        '  jobTemplate:',
        '    spec:',
        '      completionMode: Indexed',
        `      completions: ${options.shards}`,
        `      parallelism: ${options.shards}`,
        '      backoffLimitPerIndex: 1',
        `      activeDeadlineSeconds: ${Math.max(600, rpo)}`,
        '      template:',
        '        metadata:',
        '          labels:',
        '            azure.workload.identity/use: "true"',
        '        spec:',
        '          serviceAccountName: disk-delta',
        '          restartPolicy: Never',
        '          containers:',
        '            - name: protect',
        `              image: ${options.image}`,
        '              command: ["/bin/sh", "-c"]',
        `              args: ["exec disk-delta protect run --policy /policy/policy.yaml --json --shard \\"$JOB_COMPLETION_INDEX/${options.shards}\\""]`,
        '              env:',
        '                - name: AZURE_SUBSCRIPTION_ID',
        '                  value: "<subscription id>"',
        '              resources:',
        '                requests: { cpu: 250m, memory: 256Mi }',
        '                limits: { memory: 512Mi }',
        '              volumeMounts:',
        '                - { name: policy, mountPath: /policy, readOnly: true }',
        '          volumes:',
        '            - name: policy',
        '              configMap: { name: disk-delta-policy }',
        '',
      ].join('\n');
    case 'container-apps-job':
      return [
        header,
        '# For: az containerapp job create -g <group> -n disk-delta-protect --yaml <this file>',
        "# Sign-in: the job's user-assigned managed identity (its client id in AZURE_CLIENT_ID). The policy is",
        '# mounted from an Azure Files share holding it (storage name disk-delta-policy in the environment).',
        'location: <region>',
        'identity:',
        '  type: UserAssigned',
        '  userAssignedIdentities:',
        '    "<identity resource id>": {}',
        'properties:',
        '  environmentId: <container apps environment id>',
        '  configuration:',
        '    triggerType: Schedule',
        `    replicaTimeout: ${Math.max(600, rpo)}`,
        '    replicaRetryLimit: 1',
        '    scheduleTriggerConfig:',
        `      cronExpression: ${q(cron)}`,
        '      parallelism: 1',
        '      replicaCompletionCount: 1',
        '  template:',
        '    containers:',
        '      - name: protect',
        `        image: ${options.image}`,
        `        args: ["protect", "run", "--policy", "/policy/${policy.split('/').pop()}", "--json"]`,
        '        env:',
        '          - { name: AZURE_CLIENT_ID, value: "<identity client id>" }',
        '          - { name: AZURE_SUBSCRIPTION_ID, value: "<subscription id>" }',
        '        resources: { cpu: 0.5, memory: 1Gi }',
        '        volumeMounts:',
        '          - { volumeName: policy, mountPath: /policy }',
        '    volumes:',
        '      - { name: policy, storageType: AzureFile, storageName: disk-delta-policy }',
        '',
      ].join('\n');
  }
}
