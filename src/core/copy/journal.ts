/**
 * The durable record of a family copy: which plan is running and which of its operations are done, so a
 * copy killed at any point (SIGKILL included) resumes and redoes at most the operations that were in
 * flight. JSON lines, each with its own checksum, fsync'd in group commits, compacted by atomic rename.
 * It never holds a SAS or a token: records carry ids, offsets and blob URLs stripped of their query.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PageRange } from '../model';
import { DiskDeltaError } from '../errors';
import { redact } from '../secret';
import { shortHash } from './plan';

export const JOURNAL_VERSION = 1;

export type StepPhase = 'clearedTarget' | 'copied' | 'verified' | 'snapshotted' | 'recorded' | 'imported';

type JournalRecord =
  | { t: 'journal'; v: number; family: string; target: string }
  | { t: 'step'; id: string; source: string; mode: string }
  | { t: 'done'; o: number; l: number; w?: number }
  | { t: 'upto'; w: number }
  | { t: 'phase'; p: StepPhase; blobSnapshot?: string; importedId?: string }
  | { t: 'finished'; id: string };

export interface JournalStepState {
  readonly planId: string;
  readonly sourceSnapshotId: string;
  readonly phases: ReadonlySet<StepPhase>;
  readonly blobSnapshot?: string;
  readonly importedId?: string;
  /** Every operation of the plan ending at or before this offset is done (operations run in offset order). */
  readonly watermark: number;
  /** Bytes of operations done beyond the watermark. */
  readonly doneAboveWatermark: number;
}

function checksum(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

function encode(record: JournalRecord): string {
  const body = JSON.stringify(record);
  const line = `${JSON.stringify({ r: record, h: checksum(body) })}\n`;
  // Belt and braces: a SAS signature must never reach the disk — issue 9 "Secrets".
  if (redact(line) !== line) throw new DiskDeltaError('Refusing to write a secret into the copy journal.', 'SecretInJournal');
  return line;
}

/** Sorted, disjoint, non-touching byte intervals of done operations; touching ones coalesce. */
class DoneSet {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  get size(): number {
    return this.#starts.length;
  }

  #firstEndingAtOrAfter(offset: number): number {
    let lo = 0;
    let hi = this.#ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#ends[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(offset: number, length: number): void {
    let start = offset;
    let end = offset + length;
    const i = this.#firstEndingAtOrAfter(start);
    let j = i;
    while (j < this.#starts.length && this.#starts[j]! <= end) {
      start = Math.min(start, this.#starts[j]!);
      end = Math.max(end, this.#ends[j]!);
      j += 1;
    }
    this.#starts.splice(i, j - i, start);
    this.#ends.splice(i, j - i, end);
  }

  covers(offset: number, length: number): boolean {
    const i = this.#firstEndingAtOrAfter(offset + 1);
    return i < this.#starts.length && this.#starts[i]! <= offset && this.#ends[i]! >= offset + length;
  }

  /** Forgets intervals wholly below `offset` (the watermark covers them). */
  pruneBelow(offset: number): void {
    const i = this.#firstEndingAtOrAfter(offset + 1);
    if (i > 0) {
      this.#starts.splice(0, i);
      this.#ends.splice(0, i);
    }
  }

  bytes(): number {
    let sum = 0;
    for (let i = 0; i < this.#starts.length; i += 1) sum += this.#ends[i]! - this.#starts[i]!;
    return sum;
  }

  *ranges(): Generator<PageRange> {
    for (let i = 0; i < this.#starts.length; i += 1) yield { offset: this.#starts[i]!, length: this.#ends[i]! - this.#starts[i]! };
  }
}

export interface JournalOpenResult {
  readonly journal: CopyJournal;
  /** Things the caller should tell the user (e.g. a torn last line was dropped). */
  readonly warnings: string[];
}

interface StepState {
  planId: string;
  source: string;
  mode: string;
  phases: Set<StepPhase>;
  blobSnapshot?: string;
  importedId?: string;
  done: DoneSet;
  watermark: number;
}

export class CopyJournal {
  #step: StepState | undefined;
  #lastFinished: string | undefined;
  #linesSinceCompaction = 0;
  #pending: string[] = [];
  #waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #flushScheduled = false;
  #queue: Promise<void> = Promise.resolve();
  #handle: fs.FileHandle | undefined;
  #closed = false;

  private constructor(
    readonly file: string,
    readonly familyId: string,
    readonly target: string,
    readonly compactEvery: number,
  ) {}

  /**
   * Opens (or creates) the journal for a family copy to one target. A journal for another family or target,
   * an unknown version, or a line whose checksum fails is reported as an error, never trusted; only a torn
   * last line (a write cut short by a crash) is dropped, with a warning.
   */
  static async open(file: string, familyId: string, target: string, options: { compactEvery?: number } = {}): Promise<JournalOpenResult> {
    const journal = new CopyJournal(file, familyId, target, options.compactEvery ?? 20_000);
    const warnings: string[] = [];
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    if (text !== undefined && text.length > 0) journal.#load(text, warnings);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await journal.#rewrite();
    return { journal, warnings };
  }

  #corrupt(lineNo: number, why: string): DiskDeltaError {
    return new DiskDeltaError(
      `The copy journal ${this.file} is damaged at line ${lineNo}: ${why}.`,
      'JournalCorrupt',
      'Delete the journal file to start this snapshot again from its first chunk (the target blob stays consistent), or pass the right --journal.',
    );
  }

  #load(text: string, warnings: string[]): void {
    const lines = text.split('\n');
    const torn = lines[lines.length - 1] !== '';
    if (!torn) lines.pop();
    const parsed: JournalRecord[] = [];
    for (let i = 0; i < lines.length; i += 1) {
      const isLast = i === lines.length - 1;
      let record: JournalRecord | undefined;
      try {
        const outer = JSON.parse(lines[i]!) as { r?: JournalRecord; h?: string };
        if (outer.r && outer.h === checksum(JSON.stringify(outer.r))) record = outer.r;
      } catch {
        record = undefined;
      }
      if (!record) {
        if (isLast && torn) {
          warnings.push(`The copy journal's last line was cut short by an interrupted write and was ignored; at most that one operation is done again.`);
          break;
        }
        throw this.#corrupt(i + 1, 'its checksum does not match its content');
      }
      parsed.push(record);
    }
    if (parsed.length === 0) return;
    const head = parsed[0]!;
    if (head.t !== 'journal') throw this.#corrupt(1, 'it does not start with a journal header');
    if (head.v !== JOURNAL_VERSION) {
      throw new DiskDeltaError(
        `The copy journal ${this.file} has version ${head.v}; this Disk Delta writes version ${JOURNAL_VERSION}.`,
        'JournalVersion',
        'Finish the copy with the Disk Delta version that started it, or delete the journal to restart this snapshot.',
      );
    }
    if (head.family.toLowerCase() !== this.familyId.toLowerCase() || head.target !== this.target) {
      throw new DiskDeltaError(
        `The copy journal ${this.file} belongs to another copy (family ${head.family} to ${head.target}).`,
        'JournalMismatch',
        'Pass the journal of this copy with --journal, or another path for a new one.',
      );
    }
    for (let i = 1; i < parsed.length; i += 1) {
      const r = parsed[i]!;
      if (r.t === 'step') this.#step = { planId: r.id, source: r.source, mode: r.mode, phases: new Set(), done: new DoneSet(), watermark: 0 };
      else if (r.t === 'finished') {
        this.#lastFinished = r.id;
        this.#step = undefined;
      } else if (r.t === 'journal') throw this.#corrupt(i + 1, 'a second journal header');
      else if (!this.#step) throw this.#corrupt(i + 1, 'an operation outside any snapshot step');
      else if (r.t === 'done') this.#addDone(this.#step, r.o, r.l, r.w);
      else if (r.t === 'upto') this.#addDone(this.#step, 0, 0, r.w);
      else if (r.t === 'phase') {
        this.#step.phases.add(r.p);
        if (r.blobSnapshot) this.#step.blobSnapshot = r.blobSnapshot;
        if (r.importedId) this.#step.importedId = r.importedId;
      } else throw this.#corrupt(i + 1, 'an unknown record');
    }
  }

  /** The step in progress when the journal was last written, if any. */
  get currentStep(): JournalStepState | undefined {
    const s = this.#step;
    if (!s) return undefined;
    return {
      planId: s.planId,
      sourceSnapshotId: s.source,
      phases: s.phases,
      blobSnapshot: s.blobSnapshot,
      importedId: s.importedId,
      watermark: s.watermark,
      doneAboveWatermark: s.done.bytes(),
    };
  }

  get lastFinishedPlanId(): string | undefined {
    return this.#lastFinished;
  }

  /** Begins (or, when the same plan is in progress, continues) a step. Returns true when it continues. */
  async beginStep(planId: string, sourceSnapshotId: string, mode: string): Promise<boolean> {
    if (this.#step?.planId === planId) return true;
    this.#step = { planId, source: sourceSnapshotId, mode, phases: new Set(), done: new DoneSet(), watermark: 0 };
    // Appended, not compacted: a `step` line replaces whatever step the lines before it describe, so one
    // group-commit fsync is enough at a snapshot boundary (compaction follows every `compactEvery` lines).
    await this.#append({ t: 'step', id: planId, source: sourceSnapshotId, mode });
    return false;
  }

  /** Forgets the current step's done operations (its target was recreated). */
  async restartStep(): Promise<void> {
    if (!this.#step) return;
    this.#step.done = new DoneSet();
    this.#step.watermark = 0;
    this.#step.phases.clear();
    await this.#rewrite();
  }

  isDone(offset: number, length: number): boolean {
    const s = this.#step;
    if (!s) return false;
    return offset + length <= s.watermark || s.done.covers(offset, length);
  }

  /**
   * Memory and journal size stay bounded however many ranges a disk has: done operations below the
   * watermark are forgotten, only the few finished out of order above it are kept.
   */
  #addDone(step: StepState, offset: number, length: number, watermark: number | undefined): void {
    if (length > 0) step.done.add(offset, length);
    if (watermark !== undefined && watermark > step.watermark) {
      step.watermark = watermark;
      step.done.pruneBelow(watermark);
    }
  }

  hasPhase(phase: StepPhase): boolean {
    return this.#step?.phases.has(phase) ?? false;
  }

  /**
   * Records a finished operation and, when the caller knows it, the new watermark (the end of the longest
   * run of finished operations from the plan's start); resolves once it is on disk (group commit).
   */
  async recordDone(offset: number, length: number, watermark?: number): Promise<void> {
    if (!this.#step) throw new DiskDeltaError('No copy step is in progress.', 'JournalState');
    this.#addDone(this.#step, offset, length, watermark);
    await this.#append(watermark === undefined ? { t: 'done', o: offset, l: length } : { t: 'done', o: offset, l: length, w: watermark });
    if (this.#linesSinceCompaction >= this.compactEvery) {
      this.#linesSinceCompaction = 0;
      await this.#rewrite();
    }
  }

  async recordPhase(phase: StepPhase, details: { blobSnapshot?: string; importedId?: string } = {}): Promise<void> {
    if (!this.#step) throw new DiskDeltaError('No copy step is in progress.', 'JournalState');
    this.#step.phases.add(phase);
    if (details.blobSnapshot) this.#step.blobSnapshot = details.blobSnapshot;
    if (details.importedId) this.#step.importedId = details.importedId;
    await this.#append({ t: 'phase', p: phase, ...details });
  }

  async finishStep(): Promise<void> {
    if (!this.#step) return;
    const id = this.#step.planId;
    this.#lastFinished = id;
    this.#step = undefined;
    // A `finished` line ends the step for a reader as a compaction would; it shares the group commit of
    // records made in the same tick (the step's `recorded` phase).
    await this.#append({ t: 'finished', id });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#serial(async () => {
      await this.#handle?.close();
      this.#handle = undefined;
    });
  }

  #append(record: JournalRecord): Promise<void> {
    if (this.#closed) return Promise.reject(new DiskDeltaError('The copy journal is closed.', 'JournalState'));
    this.#pending.push(encode(record));
    this.#linesSinceCompaction += 1;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      void this.#serial(() => this.#flushBatch());
    }
    return done;
  }

  /** Journal I/O runs one job at a time so a compaction never races an append to the file it replaces. */
  #serial(job: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(job);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #flushBatch(): Promise<void> {
    // Let the operations finishing in this tick join the same write + fsync (group commit).
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#flushScheduled = false;
    const lines = this.#pending;
    const waiters = this.#waiters;
    this.#pending = [];
    this.#waiters = [];
    if (lines.length === 0) return;
    try {
      this.#handle ??= await fs.open(this.file, 'a');
      await this.#handle.write(lines.join(''));
      await this.#handle.datasync();
      for (const w of waiters) w.resolve();
    } catch (error) {
      for (const w of waiters) w.reject(error);
    }
  }

  #snapshotLines(): string[] {
    const lines = [encode({ t: 'journal', v: JOURNAL_VERSION, family: this.familyId, target: this.target })];
    if (this.#lastFinished) {
      lines.push(encode({ t: 'step', id: this.#lastFinished, source: '', mode: '' }), encode({ t: 'finished', id: this.#lastFinished }));
    }
    const s = this.#step;
    if (s) {
      lines.push(encode({ t: 'step', id: s.planId, source: s.source, mode: s.mode }));
      if (s.watermark > 0) lines.push(encode({ t: 'upto', w: s.watermark }));
      for (const r of s.done.ranges()) lines.push(encode({ t: 'done', o: r.offset, l: r.length }));
      for (const p of s.phases) {
        lines.push(
          encode({
            t: 'phase',
            p,
            ...(p === 'snapshotted' && s.blobSnapshot ? { blobSnapshot: s.blobSnapshot } : {}),
            ...(p === 'imported' && s.importedId ? { importedId: s.importedId } : {}),
          }),
        );
      }
    }
    return lines;
  }

  #rewrite(): Promise<void> {
    return this.#serial(() => this.#rewriteNow());
  }

  /** Writes the whole state to a temporary file, fsyncs it and renames it over the journal (atomic on POSIX and NTFS). */
  async #rewriteNow(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
    const tmp = `${this.file}.${process.pid}.tmp`;
    const h = await fs.open(tmp, 'w');
    try {
      await h.write(this.#snapshotLines().join(''));
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(tmp, this.file);
    await syncDirectory(path.dirname(this.file));
    this.#linesSinceCompaction = 0;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename durable; Windows cannot open a directory, and there the rename is already durable enough.
  if (process.platform === 'win32') return;
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Where a family copy's journal lives by default: `<stateDir>/copies/<family>-<target>.jsonl`. */
export function defaultJournalPath(stateDir: string, familyId: string, targetDisplayUrl: string): string {
  return path.join(stateDir, 'copies', `${shortHash(familyId.toLowerCase(), 12)}-${shortHash(targetDisplayUrl, 8)}.jsonl`);
}

/** The per-user state directory the CLI uses when no --journal is given. */
export function defaultStateDirectory(): string {
  if (process.platform === 'win32') return path.join(process.env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'), 'disk-delta');
  return path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state'), 'disk-delta');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * One copy per family at a time: a lock file named after the family, holding the owner's pid and host.
 * A lock whose process is gone (same host) is taken over; copies of different families do not meet.
 */
export class FamilyLock {
  private constructor(readonly file: string) {}

  static async acquire(directory: string, familyId: string): Promise<FamilyLock> {
    await fs.mkdir(directory, { recursive: true });
    const file = path.join(directory, `${shortHash(familyId.toLowerCase(), 12)}.lock`);
    const owner = JSON.stringify({ pid: process.pid, host: os.hostname(), family: familyId, since: new Date().toISOString() });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await fs.writeFile(file, owner, { flag: 'wx' });
        return new FamilyLock(file);
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
      }
      let holder: { pid?: number; host?: string; since?: string } = {};
      try {
        holder = JSON.parse(await fs.readFile(file, 'utf8')) as typeof holder;
      } catch {
        holder = {};
      }
      const sameHost = holder.host === os.hostname();
      if (typeof holder.pid === 'number' && (!sameHost || processAlive(holder.pid))) {
        throw new DiskDeltaError(
          `Another copy of this snapshot family is running (process ${holder.pid}${sameHost ? '' : ` on ${holder.host}`}, since ${holder.since ?? 'unknown'}).`,
          'CopyInProgress',
          `Wait for it to finish or cancel it (copies of different disks can run side by side). If that process is gone for good, delete ${file}.`,
        );
      }
      // The holder is gone: move its lock aside atomically so only one taker wins, then try again.
      await fs.rename(file, `${file}.stale-${process.pid}`).then(
        () => fs.rm(`${file}.stale-${process.pid}`, { force: true }),
        () => undefined,
      );
    }
    throw new DiskDeltaError('Could not take the copy lock for this family.', 'CopyInProgress', 'Try again in a moment.');
  }

  async release(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}
