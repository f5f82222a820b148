/**
 * Get Page Ranges (plain, `prevsnapshot` diff, managed-disk `x-ms-previous-snapshot-url` diff) sent through
 * the storage SDK's own pipeline - its credential, retry, user-agent, logging and tracing policies - with
 * the 200 body streamed into the incremental page-list parser instead of being read whole and
 * deserialized into the SDK's object model (docs/azure-behaviour.md#the-storage-sdks-traps).
 */
import { createPipelineRequest, RestError, type PipelineResponse } from '@azure/core-rest-pipeline';
import { PageBlobClient } from '@azure/storage-blob';
import { PageListPage, PageListXmlParser } from '../core/pageListXml';

export interface PageListRequest {
  readonly offset: number;
  readonly length: number;
  /** A diff against this snapshot of the same blob (`prevsnapshot`). */
  readonly prevSnapshot?: string;
  /** A managed-disk diff against the snapshot at this SAS URL (`x-ms-previous-snapshot-url`). A secret. */
  readonly prevSnapshotUrl?: string;
  readonly marker?: string;
  readonly maxResults?: number;
  readonly signal?: AbortSignal;
}

export interface PageListAnswer {
  readonly page: PageListPage;
  /** The continuation marker; undefined when the listing is complete. */
  readonly nextMarker: string | undefined;
}

/** `<Code>` and `<Message>` of an Azure error body (the SDK's error message is the whole `<Message>`). */
function errorBody(text: string | undefined): { code?: string; message?: string } {
  if (!text) return {};
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
}

/** The error the SDK's deserializer would have thrown for a failed answer: status, Azure's code and message. */
function failure(response: PipelineResponse): RestError {
  const body = errorBody(response.bodyAsText ?? undefined);
  const code = response.headers.get('x-ms-error-code') ?? body.code;
  const error = new RestError(body.message ?? `Unexpected status code: ${response.status}`, {
    ...(code ? { code } : {}),
    statusCode: response.status,
    request: response.request,
    response,
  });
  (error as RestError & { details?: { errorCode?: string } }).details = code ? { errorCode: code } : {};
  return error;
}

/** A PageBlobClient that can also list page ranges with the answer streamed, and read a range lean. */
export class PageListingClient extends PageBlobClient {
  /**
   * Get Blob of one byte range, its body read straight into a buffer of the range's size: the same request
   * through the same pipeline as the SDK's downloadToBuffer, without its zero-filled buffer, its retried
   * stream wrapper and the deserialisation of every answer header into its model - which cost more CPU than
   * the bytes of a small read (docs/azure-behaviour.md#the-storage-sdks-traps). A short body is an error.
   */
  async readRange(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    const pipelineRequest = createPipelineRequest({ url: this.url, method: 'GET', abortSignal: signal, streamResponseStatusCodes: new Set([200, 206]) });
    pipelineRequest.headers.set('x-ms-version', this.storageClientContext.version);
    pipelineRequest.headers.set('x-ms-range', `bytes=${offset}-${offset + length - 1}`);
    const response = await this.storageClientContext.sendRequest(pipelineRequest);
    if (response.status !== 200 && response.status !== 206) throw failure(response);
    const body = response.readableStreamBody;
    if (!body) throw new RestError('Get Blob answered without a body.', { statusCode: response.status, request: pipelineRequest, response });
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    try {
      for await (const chunk of body) {
        const c = chunk as Uint8Array;
        if (at + c.length > length)
          throw new RestError(`Get Blob answered more than the ${length} bytes asked for.`, {
            statusCode: response.status,
            request: pipelineRequest,
            response,
          });
        out.set(c, at);
        at += c.length;
      }
    } catch (error) {
      (body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw error;
    }
    if (at !== length)
      throw new RestError(`Get Blob answered ${at} of the ${length} bytes asked for.`, { statusCode: response.status, request: pipelineRequest, response });
    return out;
  }

  override withSnapshot(snapshot: string): PageListingClient {
    return new PageListingClient(super.withSnapshot(snapshot).url, this.pipeline);
  }

  /** One Get Page Ranges request; the answer's ranges, parsed as the body arrives. */
  async pageList(request: PageListRequest, page = new PageListPage()): Promise<PageListAnswer> {
    page.reset();
    const query = ['comp=pagelist'];
    if (request.prevSnapshot !== undefined) query.push(`prevsnapshot=${encodeURIComponent(request.prevSnapshot)}`);
    if (request.marker !== undefined) query.push(`marker=${encodeURIComponent(request.marker)}`);
    if (request.maxResults !== undefined) query.push(`maxresults=${request.maxResults}`);
    // Appended as text: re-serialising the URL's query would re-encode the SAS it carries.
    const url = `${this.url}${this.url.includes('?') ? '&' : '?'}${query.join('&')}`;
    const pipelineRequest = createPipelineRequest({
      url,
      method: 'GET',
      abortSignal: request.signal,
      // Only a 200 answer is streamed; an error answer is read whole for its code and message.
      streamResponseStatusCodes: new Set([200]),
    });
    pipelineRequest.headers.set('x-ms-version', this.storageClientContext.version);
    pipelineRequest.headers.set('x-ms-range', `bytes=${request.offset}-${request.offset + request.length - 1}`);
    pipelineRequest.headers.set('accept', 'application/xml');
    if (request.prevSnapshotUrl !== undefined) pipelineRequest.headers.set('x-ms-previous-snapshot-url', request.prevSnapshotUrl);
    const response = await this.storageClientContext.sendRequest(pipelineRequest);
    if (response.status !== 200) throw failure(response);
    const body = response.readableStreamBody;
    const parser = new PageListXmlParser(page);
    if (!body) throw new RestError('Get Page Ranges answered 200 without a body.', { statusCode: 200, request: pipelineRequest, response });
    try {
      for await (const chunk of body) parser.write(chunk as Uint8Array);
      parser.end();
    } catch (error) {
      // Stop reading: the socket is closed rather than reused with an unread body on it.
      (body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw error;
    }
    return { page, nextMarker: parser.nextMarker };
  }
}
