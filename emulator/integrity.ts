/**
 * Azure Storage's CRC64 (the reflected polynomial 0x9A6C9329AC4BC9B5, initial and final value all ones:
 * CRC-64/NVME; check value of "123456789" is 0xAE8B14860A799888), sent and answered as
 * `x-ms-content-crc64`: the 8 bytes little-endian, base64 (docs/azure-behaviour.md#integrity-headers).
 * The 64-bit state is kept as two 32-bit halves.
 */
const POLY_LO = 0xac4bc9b5;
const POLY_HI = 0x9a6c9329;
const TABLE_LO = new Uint32Array(256);
const TABLE_HI = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let k = 0; k < 8; k++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (odd) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  TABLE_LO[i] = lo;
  TABLE_HI[i] = hi;
}

export class Crc64 {
  #lo = 0xffffffff;
  #hi = 0xffffffff;

  update(data: Uint8Array): this {
    let lo = this.#lo;
    let hi = this.#hi;
    for (let j = 0; j < data.length; j++) {
      const idx = (lo ^ data[j]!) & 0xff;
      lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ TABLE_LO[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ TABLE_HI[idx]!) >>> 0;
    }
    this.#lo = lo;
    this.#hi = hi;
    return this;
  }

  /** The value as Azure sends it: 8 bytes, least significant first, in base64. */
  base64(): string {
    const out = Buffer.alloc(8);
    out.writeUInt32LE(~this.#lo >>> 0, 0);
    out.writeUInt32LE(~this.#hi >>> 0, 4);
    return out.toString('base64');
  }

  /** The value as a number in hex, for checks against published check values. */
  hex(): string {
    return ((BigInt(~this.#hi >>> 0) << 32n) | BigInt(~this.#lo >>> 0)).toString(16).padStart(16, '0');
  }
}
