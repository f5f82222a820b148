import type { IncomingMessage, ServerResponse } from 'node:http';
import { saveState, type EmulatorState } from './state';
import { PageLog, type SyntheticSource } from './pageLog';
import { FaultInjector } from './faults';
import { ArmRateLimits } from './armThrottle';
import { emptyCounters, type EmulatorCounters } from './stats';

/** A long-running ARM operation, as its status resource (`.../DiskOperations/{id}`) reports it. */
export interface ArmOperation {
  id: string;
  doneAt: number;
  /** The operation's output (`properties.output`), computed when it is read. */
  result?: () => unknown;
  error?: { code: string; message: string };
  started: number;
}

/** Everything a request handler needs: the state, the page log, faults and counters. */
export class EmulatorContext {
  stats: EmulatorCounters = emptyCounters();
  readonly synthetic = new Map<number, SyntheticSource>();
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  origin = '';
  /** Multiplies CopyStart durations; tests use a small value. */
  copyTimeScale = 1;
  /** Microsoft.Compute request buckets (the `armthrottle` fault). */
  readonly armLimits = new ArmRateLimits();
  /** Long-running operations by id (202 Accepted + Azure-AsyncOperation), polled until done. */
  readonly operations = new Map<string, ArmOperation>();

  constructor(
    readonly state: EmulatorState,
    readonly log: PageLog,
    readonly faults: FaultInjector,
    readonly caPem: string,
    readonly dataDir: string | undefined,
  ) {
    for (const [id, s] of Object.entries(state.synthetic)) this.synthetic.set(Number(id), s);
  }

  now(): number {
    return Date.now() + this.state.clockOffsetMs;
  }

  countRequest(operation: string): void {
    this.stats.requests[operation] = (this.stats.requests[operation] ?? 0) + 1;
  }

  countWrite(account: string, blobKey: string, bytes: number): void {
    this.stats.bytesWrittenByBlob[blobKey] = (this.stats.bytesWrittenByBlob[blobKey] ?? 0) + bytes;
    this.stats.bytesWrittenByAccount[account] = (this.stats.bytesWrittenByAccount[account] ?? 0) + bytes;
  }

  countClear(blobKey: string, bytes: number): void {
    this.stats.bytesClearedByBlob[blobKey] = (this.stats.bytesClearedByBlob[blobKey] ?? 0) + bytes;
  }

  countRead(blobKey: string, bytes: number): void {
    this.stats.bytesReadByBlob[blobKey] = (this.stats.bytesReadByBlob[blobKey] ?? 0) + bytes;
  }

  resetStats(): void {
    this.stats = emptyCounters();
    for (const k of Object.keys(this.faults.injected)) delete this.faults.injected[k];
  }

  addSynthetic(source: SyntheticSource): number {
    const id = this.state.nextSyntheticId++;
    this.state.synthetic[id] = source;
    this.synthetic.set(id, source);
    return id;
  }

  activeGrants(): number {
    const now = this.now();
    return Object.values(this.state.grants).filter((g) => g.expiresAt > now).length;
  }

  /** State is written a moment after changes (and on shutdown), not on every page write. */
  markDirty(): void {
    if (!this.dataDir) return;
    this.#dirty = true;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, 1000);
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.dataDir || !this.#dirty) return;
    this.#dirty = false;
    saveState(this.dataDir, this.state);
  }
}

export type Handler = (ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
