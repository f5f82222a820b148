import * as vscode from 'vscode';

export interface ProgressUpdate {
  /** Short text after the title, e.g. "copying 1.2 GiB of 4 GiB · 58 MiB/s · 1 min left". */
  readonly message?: string;
  /** Overall fraction done, 0..1, when known. */
  readonly fraction?: number;
}

/** Reports at most this often: VS Code redraws the notification on each report. */
const REPORT_INTERVAL_MS = 200;

/**
 * Runs long work under a cancellable progress notification. The work gets an AbortSignal (the
 * engine's way to cancel) and a throttled report function; cancellation is not an error.
 */
export async function withCancellableProgress<T>(
  title: string,
  work: (report: (update: ProgressUpdate) => void, signal: AbortSignal) => Promise<T>,
  options: { cancellable?: boolean; location?: vscode.ProgressLocation } = {},
): Promise<T> {
  return vscode.window.withProgress(
    { location: options.location ?? vscode.ProgressLocation.Notification, title, cancellable: options.cancellable ?? true },
    async (progress, token) => {
      const controller = new AbortController();
      const sub = token.onCancellationRequested(() => controller.abort(new DOMException(`${title}: cancelled`, 'AbortError')));
      let reported = 0;
      let last = 0;
      let pending: ProgressUpdate | undefined;
      let timer: NodeJS.Timeout | undefined;
      const flush = () => {
        timer = undefined;
        if (!pending) return;
        const u = pending;
        pending = undefined;
        last = Date.now();
        let increment: number | undefined;
        if (u.fraction !== undefined) {
          const pct = Math.max(0, Math.min(100, u.fraction * 100));
          increment = pct - reported;
          if (increment < 0) increment = 0;
          reported = Math.max(reported, pct);
        }
        progress.report({ message: u.message, increment });
      };
      const report = (u: ProgressUpdate) => {
        pending = u;
        const wait = REPORT_INTERVAL_MS - (Date.now() - last);
        if (wait <= 0) flush();
        else timer ??= setTimeout(flush, wait);
      };
      try {
        return await work(report, controller.signal);
      } finally {
        if (timer) clearTimeout(timer);
        sub.dispose();
      }
    },
  );
}
