/**
 * A SAS URL or token. It cannot be printed, logged, or serialised by accident: only `reveal()` gives
 * the value, and only adapters that send it to Azure call it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([secret])';
  }
}

const SAS_PARAM = /([?&](?:sig|se|st|sv|sp|sr|spr|skoid|sktid|skt|ske|sks|skv|sdd|si|ss|srt|saoid|suoid|scid|rscc|rscd|rsce|rscl|rsct)=)[^&#\s"'<>]*/gi;
const BEARER = /(bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
const KEYED = /((?:accountKey|AccountKey|token|access_token|accessSAS|sasUrl|x-ms-copy-source)["']?\s*[:=]\s*["']?)[^"'\s,;}&]+/g;

/** The one redaction used everywhere text may leave the process (logs, output channel, errors, files). */
export function redact(text: string): string {
  return text
    .replace(SAS_PARAM, (_m, key: string) => (key.toLowerCase().endsWith('sig=') ? `${key}REDACTED` : `${key}***`))
    .replace(BEARER, '$1REDACTED')
    .replace(JWT, 'REDACTED-JWT')
    .replace(KEYED, '$1REDACTED');
}

/** A URL safe to show: scheme, host and path, with the query (where a SAS lives) removed. */
export function stripQuery(url: string): string {
  const q = url.search(/[?#]/);
  return q < 0 ? url : url.slice(0, q);
}
