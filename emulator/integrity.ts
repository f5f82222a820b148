/**
 * Azure Storage's CRC64 (the reflected polynomial 0x9A6C9329AC4BC9B5, initial and final value all ones:
 * CRC-64/NVME; check value of "123456789" is 0xAE8B14860A799888), sent and answered as
 * `x-ms-content-crc64`: the 8 bytes least significant first, base64 (docs/azure-behaviour.md#integrity-headers).
 * The 64-bit state is kept as two 32-bit halves; eight tables take eight bytes a step, fast enough to
 * answer every Put Page as Azure does.
 */
const POLY_LO = 0xac4bc9b5;
const POLY_HI = 0x9a6c9329;
const LO = Array.from({ length: 8 }, () => new Uint32Array(256));
const HI = Array.from({ length: 8 }, () => new Uint32Array(256));
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
  LO[0]![i] = lo;
  HI[0]![i] = hi;
}
for (let t = 1; t < 8; t++) {
  for (let i = 0; i < 256; i++) {
    const plo = LO[t - 1]![i]!;
    const phi = HI[t - 1]![i]!;
    const idx = plo & 0xff;
    LO[t]![i] = (((plo >>> 8) | ((phi & 0xff) << 24)) ^ LO[0]![idx]!) >>> 0;
    HI[t]![i] = ((phi >>> 8) ^ HI[0]![idx]!) >>> 0;
  }
}
const [L0, L1, L2, L3, L4, L5, L6, L7] = LO as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
const [H0, H1, H2, H3, H4, H5, H6, H7] = HI as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

export class Crc64 {
  #lo = 0xffffffff;
  #hi = 0xffffffff;

  update(data: Uint8Array): this {
    let lo = this.#lo;
    let hi = this.#hi;
    const d = data;
    const whole = d.length - (d.length % 8);
    let j = 0;
    for (; j < whole; j += 8) {
      const a = (lo ^ (d[j]! | (d[j + 1]! << 8) | (d[j + 2]! << 16) | (d[j + 3]! << 24))) >>> 0;
      const b = (hi ^ (d[j + 4]! | (d[j + 5]! << 8) | (d[j + 6]! << 16) | (d[j + 7]! << 24))) >>> 0;
      lo =
        (L7[a & 0xff]! ^
          L6[(a >>> 8) & 0xff]! ^
          L5[(a >>> 16) & 0xff]! ^
          L4[a >>> 24]! ^
          L3[b & 0xff]! ^
          L2[(b >>> 8) & 0xff]! ^
          L1[(b >>> 16) & 0xff]! ^
          L0[b >>> 24]!) >>>
        0;
      hi =
        (H7[a & 0xff]! ^
          H6[(a >>> 8) & 0xff]! ^
          H5[(a >>> 16) & 0xff]! ^
          H4[a >>> 24]! ^
          H3[b & 0xff]! ^
          H2[(b >>> 8) & 0xff]! ^
          H1[(b >>> 16) & 0xff]! ^
          H0[b >>> 24]!) >>>
        0;
    }
    for (; j < d.length; j++) {
      const idx = (lo ^ d[j]!) & 0xff;
      lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ L0[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ H0[idx]!) >>> 0;
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
