/**
 * The most recently read records of a filesystem (XFS inodes, NTFS MFT records) by number, kept as
 * promises so that callers asking for one record at the same time share one read. A read that fails is
 * forgotten, so the next caller tries again; the least recently used record goes first.
 */
export class RecentRecords<T> {
  readonly #recent = new Map<number, Promise<T>>();

  constructor(private readonly limit: number) {}

  get(no: number, read: () => Promise<T>): Promise<T> {
    const hit = this.#recent.get(no);
    if (hit) {
      this.#recent.delete(no);
      this.#recent.set(no, hit);
      return hit;
    }
    const p = read();
    this.#recent.set(no, p);
    if (this.#recent.size > this.limit) this.#recent.delete(this.#recent.keys().next().value as number);
    p.catch(() => {
      if (this.#recent.get(no) === p) this.#recent.delete(no);
    });
    return p;
  }

  clear(): void {
    this.#recent.clear();
  }
}
