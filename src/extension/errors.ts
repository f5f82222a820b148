import * as vscode from 'vscode';
import { DiskDeltaError, isAbortError } from '../core/errors';
import { redact } from '../core/secret';
import type { Log } from './log';

/**
 * Shows one message for a failure (with the Azure error code and what to do next) and a button to
 * the log. Cancellation is not an error: it is logged, not shown.
 */
export async function showFailure(log: Log, what: string, error: unknown): Promise<void> {
  if (isAbortError(error)) {
    log.info(`${what}: cancelled`);
    return;
  }
  log.error(`${what} failed:`, error);
  const text =
    error instanceof DiskDeltaError
      ? `${what} failed: ${error.message} [${error.code}]${error.hint ? ` ${error.hint}` : ''}`
      : `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
  const choice = await vscode.window.showErrorMessage(redact(text), 'Show Log');
  if (choice === 'Show Log') log.show();
}
