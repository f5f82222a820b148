/**
 * A copy's progress on stderr. On a terminal: one progress bar per snapshot (bytes, rate, time left) drawn
 * by cli-progress, with notes printed above the bars. Elsewhere (a pipe, a file, CI logs): a line every
 * few seconds. With --only-show-errors: nothing.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import { formatBytes, formatDuration, formatRate } from '../core/format';
import { CopyProgressTracker, formatCopyProgress, type CopyProgress } from '../core/copy';
import { redact } from '../core/secret';

export interface CopyProgressReporter {
  readonly onProgress: (p: CopyProgress) => void;
  /** Leaves the bars as they are and gives the terminal back; called again, does nothing. */
  done(): void;
}

let activeBars: MultiBar | undefined;

/** A note on stderr that does not tear a progress bar being drawn. */
export function writeNote(text: string): void {
  const line = redact(text) + '\n';
  if (activeBars) activeBars.log(line);
  else process.stderr.write(line);
}

/** Stops any bar still drawn (a command that failed midway); main calls it before exiting. */
export function stopProgress(): void {
  const bars = activeBars;
  activeBars = undefined;
  bars?.stop();
}

function totalText(p: CopyProgress): string {
  return p.bytesTotal ? `${formatBytes(p.bytesDone)} of ${p.bytesTotalIsEstimate ? '~' : ''}${formatBytes(p.bytesTotal)}` : formatBytes(p.bytesDone);
}

/** The line-based progress for logs: one line every 5 s, and each phase's end, in the words the extension uses. */
function lineReporter(note: (text: string) => void): CopyProgressReporter {
  let last = 0;
  const tracker = new CopyProgressTracker();
  return {
    onProgress: (p) => {
      const overall = tracker.update(p);
      const now = Date.now();
      if (now - last < 5000 && p.phase !== 'done') return;
      last = now;
      note(formatCopyProgress(overall, { requests: true }));
    },
    done: () => undefined,
  };
}

interface BarPayload {
  readonly label: string;
  readonly phase: string;
  readonly bytes: string;
  readonly rate: string;
  readonly timeLeft: string;
}

function payloadOf(p: CopyProgress): BarPayload {
  return {
    label: `[${p.snapshotIndex + 1}/${p.snapshotCount}]`,
    phase: p.phase,
    bytes: totalText(p),
    rate: formatRate(p.bytesPerSecond),
    timeLeft: p.phase === 'done' ? 'done' : p.etaSeconds !== undefined && p.bytesDone > 0 ? `${formatDuration(p.etaSeconds * 1000)} left` : '--',
  };
}

/** One cli-progress bar per snapshot on `stream` (a terminal). */
export function barReporter(stream: NodeJS.WritableStream): CopyProgressReporter {
  const bars = new MultiBar({
    stream,
    format: '{label} {bar} {percentage}% | {bytes} | {rate} | {timeLeft} | {phase}',
    barsize: 30,
    barCompleteChar: '\u2588',
    barIncompleteChar: '\u2591',
    hideCursor: false,
    // Ctrl+C is main's to handle: it stops the bars, then the copy prints how to resume.
    gracefulExit: false,
    clearOnComplete: false,
    stopOnComplete: false,
    autopadding: true,
    fps: 5,
    // The terminal check is made by the caller; a bar is only built for a terminal.
    noTTYOutput: true,
    notTTYSchedule: 200,
  });
  activeBars = bars;
  let bar: SingleBar | undefined;
  let index = -1;
  let stopped = false;
  return {
    onProgress: (p) => {
      // Stopped by done(), or by stopProgress() on Ctrl+C or a failure: nothing more is drawn.
      if (stopped || activeBars !== bars) return;
      // A snapshot with nothing to move still shows a full bar when it is done.
      const total = Math.max(p.bytesTotal, 1);
      const value = p.phase === 'done' ? total : Math.min(p.bytesDone, total);
      if (p.snapshotIndex !== index || !bar) {
        if (bar) bar.update(bar.getTotal());
        index = p.snapshotIndex;
        bar = bars.create(total, value, payloadOf(p));
        return;
      }
      if (bar.getTotal() !== total) bar.setTotal(total);
      bar.update(value, payloadOf(p));
    },
    done: () => {
      if (stopped) return;
      stopped = true;
      if (activeBars !== bars) return;
      activeBars = undefined;
      bars.stop();
    },
  };
}

/** The reporter for this invocation: bars on a terminal, lines elsewhere, nothing when quiet. */
export function copyProgressReporter(options: { readonly quiet: boolean; readonly note: (text: string) => void }): CopyProgressReporter {
  if (options.quiet) return { onProgress: () => undefined, done: () => undefined };
  if (process.stderr.isTTY === true) return barReporter(process.stderr);
  return lineReporter(options.note);
}
