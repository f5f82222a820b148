import * as vscode from 'vscode';
import { redact } from '../core/secret';

/** The "Disk Delta" log output channel. Every line goes through `redact`: no SAS or token is ever written. */
export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;
  constructor() {
    this.channel = vscode.window.createOutputChannel('Disk Delta', { log: true });
  }
  info(message: string): void {
    this.channel.info(redact(message));
  }
  warn(message: string): void {
    this.channel.warn(redact(message));
  }
  error(message: string, error?: unknown): void {
    const detail = error === undefined ? '' : ` ${describe(error)}`;
    this.channel.error(redact(message + detail));
  }
  debug(message: string): void {
    this.channel.debug(redact(message));
  }
  show(): void {
    this.channel.show(true);
  }
  dispose(): void {
    this.channel.dispose();
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    return `${code ? `[${code}] ` : ''}${error.message}`;
  }
  return String(error);
}
