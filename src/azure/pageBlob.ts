import type { TokenCredential } from '@azure/core-auth';
import type { Agent } from 'node:https';
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  ContainerClient,
  generateBlobSASQueryParameters,
  newPipeline,
  PageBlobClient,
  Pipeline,
  StorageSharedKeyCredential,
  type RequestPolicyFactory,
} from '@azure/storage-blob';
import type { DiffRange, PageRange, StorageAccountInfo } from '../core/model';
import type { ByteWindow, DataPlane, OperationOptions, PageSource, PageTarget, TargetStore } from '../core/ports';
import { DiskDeltaError } from '../core/errors';
import { Secret, stripQuery } from '../core/secret';
import { azureCall } from './errors';
import { PageListPage } from '../core/pageListXml';
import { PageListingClient, type PageListAnswer, type PageListRequest } from './pageList';

/** Get Page Ranges answers at most 10,000 ranges a response (docs/azure-behaviour.md#listing-page-ranges-and-diffs). */
const MAX_RANGES_PER_PAGE = 10_000;

/** How many answers with no ranges but a marker, one after another, a managed-disk diff accepts at one position. */
const MAX_EMPTY_PAGES_IN_A_ROW = 12;

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A listing continued by the answer's NextMarker. */
function byMarker(answer: PageListAnswer, asked: PageListRequest): PageListRequest | undefined {
  return answer.nextMarker ? { ...asked, marker: answer.nextMarker } : undefined;
}

export interface DataPlaneOptions {
  /** HTTPS agent for every request (the emulator's: trusts its CA; a larger socket pool for copies). */
  readonly agent?: Agent;
  /**
   * How many times the SDK itself retries a request. The copy engine retries with its own adaptive
   * backoff, so its write path runs with 1 try; listing and reading keep the SDK's retries.
   */
  readonly maxTries?: number;
  /** Per-try timeout, so a stalled request is abandoned and retried instead of hanging. */
  readonly tryTimeoutMs?: number;
  /** Credential for target storage accounts: shared keys by account name, else a token credential. */
  readonly accountKeys?: ReadonlyMap<string, string>;
  readonly tokenCredential?: TokenCredential;
}

function pipeline(credential: StorageSharedKeyCredential | AnonymousCredential | TokenCredential, o: DataPlaneOptions, maxTries: number): Pipeline {
  const base = newPipeline(credential, {
    retryOptions: { maxTries, tryTimeoutInMs: o.tryTimeoutMs ?? 20_000, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 },
    userAgentOptions: { userAgentPrefix: 'disk-delta' },
  });
  const agent = o.agent;
  // Only the emulator needs its own agent (its CA), and it is reached with keys or SAS, never tokens.
  if (!agent || !(credential instanceof StorageSharedKeyCredential || credential instanceof AnonymousCredential)) return base;
  // A request policy is the storage SDK's public way to shape each request; this one picks the agent.
  const useAgent: RequestPolicyFactory = {
    create: (next) => ({
      sendRequest: (request) => {
        request.agent = agent;
        return next.sendRequest(request);
      },
    }),
  };
  return new Pipeline([useAgent, credential], base.options);
}

/** Reads of one page blob (a disk/snapshot SAS, or a blob or blob snapshot in an account). */
class PageBlobSource implements PageSource {
  constructor(
    protected readonly reader: PageListingClient,
    /** Secret URL for Put Page From URL and the managed-disk diff header; undefined when not shareable. */
    protected readonly url: Secret | undefined,
    /** True for managed-disk SAS URLs, where diffs use the x-ms-previous-snapshot-url header. */
    readonly managedDisk: boolean,
  ) {}

  async size(options?: OperationOptions): Promise<number> {
    const p = await azureCall('Reading blob properties', () => this.reader.getProperties({ abortSignal: options?.signal }));
    return p.contentLength ?? 0;
  }

  async *listRanges(window: ByteWindow, options?: OperationOptions): AsyncIterable<PageRange> {
    if (window.length <= 0) return;
    const first = { ...window, maxResults: MAX_RANGES_PER_PAGE };
    for await (const answer of this.#answers('Listing page ranges', first, options?.signal, byMarker)) for (const r of answer.page.pageRanges()) yield r;
  }

  /**
   * The answers of one listing in order. Each next request is sent as soon as the answer before it has been
   * read, before that answer's ranges are handed on: the service prepares the next answer while the caller
   * works through this one. `follow` says what to ask next (undefined: the listing is complete). At most
   * two answers are held, in two pages of typed arrays that are reused.
   */
  async *#answers(
    context: string,
    first: PageListRequest,
    signal: AbortSignal | undefined,
    follow: (answer: PageListAnswer, asked: PageListRequest) => Promise<PageListRequest | undefined> | PageListRequest | undefined,
  ): AsyncGenerator<PageListAnswer, void, undefined> {
    // Ends a request still in flight when the caller stops early.
    const stop = new AbortController();
    const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const pages = [new PageListPage(MAX_RANGES_PER_PAGE), new PageListPage(MAX_RANGES_PER_PAGE)];
    const send = (request: PageListRequest, n: number): Promise<PageListAnswer> =>
      azureCall(context, () => this.reader.pageList({ ...request, signal: both }, pages[n % 2]));
    let asked = first;
    let n = 0;
    let pending: Promise<PageListAnswer> | undefined = send(asked, n);
    try {
      while (pending) {
        const answer = await pending;
        pending = undefined;
        const next = await follow(answer, asked);
        if (next) {
          asked = next;
          pending = send(next, ++n);
        }
        yield answer;
      }
    } finally {
      if (pending) {
        stop.abort();
        pending.catch(() => undefined);
      }
    }
  }

  listDiff(previous: PageSource, window: ByteWindow, options?: OperationOptions): AsyncIterable<DiffRange> {
    // The listing itself, not a generator around it: every range passes one async layer fewer.
    if (this.managedDisk && previous instanceof PageBlobSource && previous.managedDisk) return this.#managedDiskDiff(previous, window, options);
    return this.#snapshotDiff(previous, window, options);
  }

  async *#snapshotDiff(previous: PageSource, window: ByteWindow, options?: OperationOptions): AsyncGenerator<DiffRange, void, undefined> {
    if (window.length <= 0) return;
    if (!(previous instanceof PageBlobSnapshotSource) || !(this instanceof PageBlobSnapshotSource) || previous.base !== this.base) {
      throw new DiskDeltaError('A diff needs two snapshots of one family or of one blob.', 'DifferentFamilies');
    }
    const first = { ...window, prevSnapshot: previous.snapshot, maxResults: MAX_RANGES_PER_PAGE };
    for await (const answer of this.#answers('Listing changed ranges', first, options?.signal, byMarker)) for (const r of answer.page.diffRanges()) yield r;
  }

  /**
   * Continued by position, as it was when the SDK's getPageRangesDiffForManagedDisks (which cannot send a
   * marker: docs/azure-behaviour.md#the-storage-sdks-traps) listed it. A listing is over only when an answer has no
   * NextMarker, and an answer may hold fewer ranges than asked, even none
   * (docs/azure-behaviour.md#listing-page-ranges-and-diffs). Ranges come in offset order, so a cut-short
   * answer is continued from the window position: past the last range returned, or, after an answer
   * with no ranges, from the same position again. Answers that keep coming back empty with a marker
   * end the diff with an error rather than a silently shorter list.
   */
  async *#managedDiskDiff(previous: PageBlobSource, window: ByteWindow, options?: OperationOptions): AsyncGenerator<DiffRange, void, undefined> {
    if (window.length <= 0) return;
    const prevUrl = previous.url;
    if (!prevUrl) throw new DiskDeltaError('The previous snapshot has no readable URL.', 'NoAccessSas');
    const end = window.offset + window.length;
    let emptyInARow = 0;
    const first = { offset: window.offset, length: window.length, prevSnapshotUrl: prevUrl.reveal() };
    const follow = async (answer: PageListAnswer, asked: PageListRequest): Promise<PageListRequest | undefined> => {
      if (!answer.nextMarker) return undefined;
      const lastEnd = answer.page.lastEnd;
      let start = asked.offset;
      if (lastEnd === undefined) {
        emptyInARow += 1;
        if (emptyInARow >= MAX_EMPTY_PAGES_IN_A_ROW) {
          throw new DiskDeltaError(
            `Listing changed ranges: Azure answered ${emptyInARow} times in a row with no ranges and a continuation marker at byte ${start}, and a managed-disk diff is continued by position, not by marker; the diff would be incomplete.`,
            'IncompleteDiffListing',
            'Run the command again later; if it keeps failing, diff a smaller window of the disk.',
          );
        }
        await pause(Math.min(2_000, 100 * 2 ** emptyInARow), options?.signal);
      } else {
        emptyInARow = 0;
        start = lastEnd;
      }
      return start < end ? { offset: start, length: end - start, prevSnapshotUrl: prevUrl.reveal() } : undefined;
    };
    for await (const answer of this.#answers('Listing changed ranges', first, options?.signal, follow)) for (const r of answer.page.diffRanges()) yield r;
  }

  async read(offset: number, length: number, options?: OperationOptions): Promise<Uint8Array> {
    return azureCall('Reading pages', () => this.reader.readRange(offset, length, options?.signal));
  }

  readUrl(): Secret {
    if (!this.url) throw new DiskDeltaError('This blob has no shareable URL.', 'NoAccessSas');
    return this.url;
  }
}

class PageBlobSnapshotSource extends PageBlobSource {
  constructor(
    readonly base: PageListingClient,
    readonly snapshot: string,
    url: Secret | undefined,
  ) {
    super(base.withSnapshot(snapshot), url, false);
  }
}

/** A page blob in a storage account that Disk Delta writes (the copy target). */
class AccountPageBlob extends PageBlobSource implements PageTarget {
  readonly displayUrl: string;
  constructor(
    private readonly client: PageListingClient,
    private readonly writer: PageBlobClient,
    private readonly sharedKey: StorageSharedKeyCredential | undefined,
  ) {
    super(client, undefined, false);
    this.displayUrl = stripQuery(client.url);
  }

  override readUrl(): Secret {
    if (!this.sharedKey) throw new DiskDeltaError('Reading this blob by URL needs the account key.', 'NoAccessSas');
    return new Secret(this.#sasFor(this.client));
  }

  #sasFor(client: PageBlobClient): string {
    const expiresOn = new Date(Date.now() + 6 * 3600_000);
    return client.url + '?' + sasQuery(client, this.sharedKey!, expiresOn);
  }

  async exists(options?: OperationOptions): Promise<boolean> {
    return azureCall('Checking the target blob', () => this.client.exists({ abortSignal: options?.signal }));
  }

  async getMetadata(options?: OperationOptions): Promise<Record<string, string>> {
    const p = await azureCall('Reading the target blob', () => this.client.getProperties({ abortSignal: options?.signal }));
    return { ...(p.metadata ?? {}) };
  }

  async create(sizeBytes: number, metadata: Record<string, string>, options?: OperationOptions): Promise<void> {
    await azureCall('Creating the target blob', () => this.writer.create(sizeBytes, { metadata, abortSignal: options?.signal }));
  }

  async setMetadata(metadata: Record<string, string>, options?: OperationOptions): Promise<void> {
    await azureCall('Updating the target blob', () => this.writer.setMetadata(metadata, { abortSignal: options?.signal }));
  }

  async resize(sizeBytes: number, options?: OperationOptions): Promise<void> {
    await azureCall('Resizing the target blob', () => this.writer.resize(sizeBytes, { abortSignal: options?.signal }));
  }

  async putPagesFromUrl(source: Secret, sourceOffset: number, targetOffset: number, length: number, options?: OperationOptions): Promise<void> {
    await azureCall('Copying pages', () =>
      this.writer.uploadPagesFromURL(source.reveal(), sourceOffset, targetOffset, length, { abortSignal: options?.signal }),
    );
  }

  async putPages(targetOffset: number, data: Uint8Array, options?: OperationOptions): Promise<void> {
    await azureCall('Writing pages', () =>
      this.writer.uploadPages(Buffer.from(data.buffer, data.byteOffset, data.byteLength), targetOffset, data.byteLength, {
        abortSignal: options?.signal,
      }),
    );
  }

  async clearPages(offset: number, length: number, options?: OperationOptions): Promise<void> {
    await azureCall('Clearing pages', () => this.writer.clearPages(offset, length, { abortSignal: options?.signal }));
  }

  async snapshot(metadata: Record<string, string>, options?: OperationOptions): Promise<string> {
    const r = await azureCall('Taking a blob snapshot', () => this.writer.createSnapshot({ metadata, abortSignal: options?.signal }));
    if (!r.snapshot) throw new DiskDeltaError('The storage account returned no snapshot time.', 'NoSnapshot');
    return r.snapshot;
  }

  snapshotSource(snapshot: string): PageSource {
    const url = this.sharedKey ? new Secret(this.#sasFor(this.client.withSnapshot(snapshot))) : undefined;
    return new PageBlobSnapshotSource(this.client, snapshot, url);
  }

  snapshotUrl(snapshot: string): string {
    return stripQuery(this.client.withSnapshot(snapshot).url) + `?snapshot=${encodeURIComponent(snapshot)}`;
  }
}

function sasQuery(client: PageBlobClient, key: StorageSharedKeyCredential, expiresOn: Date): string {
  // Built locally with the account key: no request, nothing logged.
  const url = new URL(client.url);
  const snapshot = url.searchParams.get('snapshot') ?? undefined;
  return generateBlobSASQueryParameters(
    {
      containerName: client.containerName,
      blobName: client.name,
      ...(snapshot ? { snapshotTime: snapshot } : {}),
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn,
    },
    key,
  ).toString();
}

class AccountContainer implements TargetStore {
  constructor(
    readonly account: StorageAccountInfo,
    readonly container: string,
    private readonly reader: ContainerClient,
    private readonly writer: ContainerClient,
    private readonly sharedKey: StorageSharedKeyCredential | undefined,
    /** The reader's pipeline, for the listing client of each blob. */
    private readonly readerPipeline: Pipeline,
  ) {}

  async containerExists(options?: OperationOptions): Promise<boolean> {
    return azureCall(`Checking container ${this.container}`, () => this.reader.exists({ abortSignal: options?.signal }));
  }

  async createContainer(options?: OperationOptions): Promise<void> {
    await azureCall(`Creating container ${this.container}`, () => this.reader.createIfNotExists({ abortSignal: options?.signal }));
  }

  blob(name: string): PageTarget {
    const reader = new PageListingClient(this.reader.getPageBlobClient(name).url, this.readerPipeline);
    return new AccountPageBlob(reader, this.writer.getPageBlobClient(name), this.sharedKey);
  }
}

/** DataPlane over @azure/storage-blob. */
export class BlobDataPlane implements DataPlane {
  constructor(private readonly options: DataPlaneOptions = {}) {}

  #sasClient(url: Secret, maxTries: number): PageListingClient {
    return new PageListingClient(url.reveal(), pipeline(new AnonymousCredential(), this.options, maxTries));
  }

  openSas(url: Secret): PageSource {
    return new PageBlobSource(this.#sasClient(url, this.options.maxTries ?? 4), url, true);
  }

  openWritableSas(url: Secret): PageTarget {
    const reader = this.#sasClient(url, this.options.maxTries ?? 4);
    const writer = this.#sasClient(url, 1);
    return new AccountPageBlob(reader, writer, undefined);
  }

  async targetStore(account: StorageAccountInfo, container: string): Promise<TargetStore> {
    const key = this.options.accountKeys?.get(account.name);
    const sharedKey = key ? new StorageSharedKeyCredential(account.name, key) : undefined;
    const credential = sharedKey ?? this.options.tokenCredential;
    if (!credential) {
      throw new DiskDeltaError(
        `No credential for storage account ${account.name}.`,
        'NoStorageCredential',
        'Sign in again or check your access to the account.',
      );
    }
    const readerPipeline = pipeline(credential, this.options, this.options.maxTries ?? 4);
    const reader = new BlobServiceClient(account.blobEndpoint, readerPipeline);
    const writer = new BlobServiceClient(account.blobEndpoint, pipeline(credential, this.options, 1));
    return new AccountContainer(account, container, reader.getContainerClient(container), writer.getContainerClient(container), sharedKey, readerPipeline);
  }
}
