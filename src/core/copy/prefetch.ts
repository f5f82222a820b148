/**
 * Reads an async iterable ahead of its consumer, holding at most `limit` items, so that (for example) the
 * next snapshot's diff is listed while the current one is still being copied.
 */
export class Prefetch<T> implements AsyncIterable<T> {
  readonly #iterator: AsyncIterator<T>;
  readonly #buffer: T[] = [];
  #head = 0;
  #finished = false;
  #error: { readonly value: unknown } | undefined;
  #closed = false;
  #taken = false;
  #itemReady: (() => void) | undefined;
  #roomReady: (() => void) | undefined;

  constructor(
    source: AsyncIterable<T>,
    private readonly limit: number,
  ) {
    this.#iterator = source[Symbol.asyncIterator]();
    void this.#pump();
  }

  /** Items read ahead and not yet consumed. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        while (this.buffered >= this.limit && !this.#closed) await new Promise<void>((resolve) => (this.#roomReady = resolve));
        if (this.#closed) return;
        const next = await this.#iterator.next();
        if (next.done || this.#closed) return;
        this.#buffer.push(next.value);
        this.#wakeConsumer();
      }
    } catch (error) {
      this.#error = { value: error };
    } finally {
      this.#finished = true;
      this.#wakeConsumer();
    }
  }

  #wakeConsumer(): void {
    const wake = this.#itemReady;
    this.#itemReady = undefined;
    wake?.();
  }

  /** Consumed once: the items read ahead, then the rest as the source yields them; the source's error is thrown where it occurred. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    if (this.#taken) throw new Error('A prefetched stream can be consumed once.');
    this.#taken = true;
    try {
      for (;;) {
        if (this.buffered > 0) {
          const item = this.#buffer[this.#head]!;
          this.#head += 1;
          if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
            this.#buffer.splice(0, this.#head);
            this.#head = 0;
          }
          const room = this.#roomReady;
          this.#roomReady = undefined;
          room?.();
          yield item;
          continue;
        }
        if (this.#finished) {
          if (this.#error) throw this.#error.value;
          return;
        }
        await new Promise<void>((resolve) => (this.#itemReady = resolve));
      }
    } finally {
      this.close();
    }
  }

  /** Stops reading ahead and ends the source (a read in flight is left to finish on its own). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const room = this.#roomReady;
    this.#roomReady = undefined;
    room?.();
    this.#buffer.length = 0;
    this.#head = 0;
    void Promise.resolve()
      .then(() => this.#iterator.return?.())
      .catch(() => undefined);
  }
}
