import * as vscode from 'vscode';
import { doctorExitCode, formatDoctorMarkdown, formatDoctorReport, runDoctor, type DoctorCheck } from '../../core/doctor';
import { isAbortError } from '../../core/errors';
import { redact } from '../../core/secret';
import { withCancellableProgress } from '../progress';
import type { DiskDeltaServices } from '../services';

/**
 * "Disk Delta: Run Diagnostics": the checks of `disk-delta doctor` (src/core/doctor.ts) for the current
 * connection, written to the output channel and shown as a Markdown preview.
 */
export async function runDiagnosticsCommand(s: DiskDeltaServices): Promise<void> {
  let checks: DoctorCheck[];
  if (s.connection.kind === 'none') {
    checks = [
      {
        check: 'sign-in',
        status: 'fail',
        detail: 'Disk Delta is not connected to Azure or to the local emulator.',
        fix: 'Run "Disk Delta: Sign in to Azure" or "Disk Delta: Connect to Local Emulator".',
      },
    ];
  } else {
    const subs = await s.connection.subscriptions();
    const sub =
      subs.length <= 1
        ? subs[0]
        : (
            await vscode.window.showQuickPick(
              subs.map((x) => ({ label: x.name, description: x.subscriptionId, sub: x })),
              { title: 'Run Diagnostics: subscription' },
            )
          )?.sub;
    if (!sub && subs.length > 1) return;
    const clients = sub ? await sub.clients() : undefined;
    if (!sub || !clients) {
      checks = [
        {
          check: 'subscription',
          status: 'fail',
          detail: 'No subscription is selected or available.',
          fix: 'Run "Disk Delta: Select Subscriptions..." or sign in with an account that has one.',
        },
      ];
    } else {
      const accounts = await clients.compute.listStorageAccounts(sub.subscriptionId).catch(() => []);
      const none = {
        label: '$(dash) No target account',
        description: 'check sign-in, providers, permissions and blob endpoints only',
        id: undefined as string | undefined,
      };
      const picked = accounts.length
        ? await vscode.window.showQuickPick(
            [none, ...accounts.map((a) => ({ label: a.name, description: `${a.location} · ${a.resourceGroup}`, id: a.id as string | undefined }))],
            {
              title: 'Run Diagnostics: copy target account to check',
            },
          )
        : none;
      if (!picked) return;
      try {
        checks = await withCancellableProgress('Disk Delta: running diagnostics', (_report, signal) =>
          runDoctor({
            compute: clients.compute,
            dataPlane: clients.dataPlane,
            diagnostics: clients.diagnostics,
            subscriptionId: sub.subscriptionId,
            ...(picked.id ? { targetAccountId: picked.id } : {}),
            signal,
          }),
        );
      } catch (error) {
        if (isAbortError(error)) return;
        throw error;
      }
    }
  }
  checks = checks.map((c) => ({ ...c, detail: redact(c.detail), fix: redact(c.fix) }));
  s.log.info(`Diagnostics:\n${formatDoctorReport(checks)}`);
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: formatDoctorMarkdown(checks) });
  await vscode.commands.executeCommand('markdown.showPreview', doc.uri).then(undefined, async () => {
    await vscode.window.showTextDocument(doc, { preview: true });
  });
  const failed = checks.filter((c) => c.status === 'fail').length;
  if (doctorExitCode(checks) !== 0) {
    void vscode.window.showWarningMessage(`Disk Delta diagnostics: ${failed} check(s) failed. Each has its fix in the report.`, 'Show Log').then((a) => {
      if (a) s.log.show();
    });
  } else {
    void vscode.window.showInformationMessage('Disk Delta diagnostics: all required checks passed.');
  }
}
