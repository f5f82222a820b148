/**
 * Requests to the extension host and their replies, matched by `requestId` in one place. A request
 * made in a slot (e.g. 'bin', 'hover') supersedes the slot's earlier one: that one's promise resolves
 * with undefined, so a late answer for a window that is no longer on screen is never painted.
 */
import type { ErrorMessage, FromWebviewMessage, HostReply, ReplyTo, WebviewRequest } from '../src/shared/blockMapProtocol';

type RequestOf<K extends WebviewRequest['type']> = Omit<Extract<WebviewRequest, { type: K }>, 'requestId'>;

interface Waiting {
  readonly slot: string | undefined;
  readonly resolve: (reply: HostReply | undefined) => void;
}

export class HostRequests {
  #seq = 0;
  readonly #waiting = new Map<number, Waiting>();
  readonly #latestInSlot = new Map<string, number>();

  constructor(private readonly post: (message: FromWebviewMessage) => void) {}

  /** Sends a request; resolves with its reply (or the host's error), or undefined once superseded. */
  request<K extends keyof ReplyTo>(message: RequestOf<K> & { type: K }, slot?: string): Promise<ReplyTo[K] | ErrorMessage | undefined> {
    const requestId = this.#nextId();
    if (slot !== undefined) {
      this.cancel(slot);
      this.#latestInSlot.set(slot, requestId);
    }
    const reply = new Promise<HostReply | undefined>((resolve) => this.#waiting.set(requestId, { slot, resolve }));
    this.post({ ...message, requestId } as WebviewRequest);
    return reply as Promise<ReplyTo[K] | ErrorMessage | undefined>;
  }

  /** Sends a request whose answer arrives as a notice or status message, not as a reply. */
  send<K extends keyof ReplyTo>(message: RequestOf<K> & { type: K }): void {
    this.post({ ...message, requestId: this.#nextId() } as WebviewRequest);
  }

  /** Gives up the slot's pending request, if any. */
  cancel(slot: string): void {
    const id = this.#latestInSlot.get(slot);
    if (id === undefined) return;
    this.#latestInSlot.delete(slot);
    this.#waiting.get(id)?.resolve(undefined);
    this.#waiting.delete(id);
  }

  /** Routes a host message that answers a request; false when nothing waits for it (a stale answer). */
  settle(reply: HostReply): boolean {
    if (reply.requestId === undefined) return false;
    const waiting = this.#waiting.get(reply.requestId);
    if (!waiting) return false;
    this.#waiting.delete(reply.requestId);
    if (waiting.slot !== undefined && this.#latestInSlot.get(waiting.slot) === reply.requestId) this.#latestInSlot.delete(waiting.slot);
    waiting.resolve(reply);
    return true;
  }

  #nextId(): number {
    this.#seq += 1;
    return this.#seq;
  }
}
