// A .npy reader written from the NumPy format specification (numpy.lib.format, version 1.0 and
// 2.0 headers), for the tests of data exports (CLI and panel).
import { expect } from 'vitest';

export interface Npy {
  descr: string;
  fortran: boolean;
  shape: number[];
  values: number[] | bigint[] | string[];
}

/** Parses a .npy file: magic, version, little-endian header length, the header dict, then the data in the given order. */
export function readNpy(bytes: Uint8Array): Npy {
  expect(Array.from(bytes.subarray(0, 6))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLength));
  const dataStart = start + headerLength;
  expect(header.endsWith('\n')).toBe(true);
  expect(dataStart % 16).toBe(0); // the format requires the data to be aligned
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)![1] === 'True';
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)![1];
  const shape = shapeText.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = bytes.slice(dataStart);
  const dv = new DataView(data.buffer);
  let values: Npy['values'];
  if (descr === '<f4') values = Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true));
  else if (descr === '<i8') values = Array.from({ length: count }, (_, i) => dv.getBigInt64(i * 8, true));
  else if (descr.startsWith('<U')) {
    const width = Number(descr.slice(2));
    values = Array.from({ length: count }, (_, i) => String.fromCodePoint(...Array.from({ length: width }, (_, c) => dv.getUint32((i * width + c) * 4, true)).filter((c) => c !== 0)));
  } else throw new Error(`unexpected dtype ${descr}`);
  expect(data.byteLength).toBe(count * (descr === '<f4' ? 4 : descr === '<i8' ? 8 : Number(descr.slice(2)) * 4));
  return { descr, fortran, shape, values };
}

/** The largest |a − b| over two float32 arrays of the same shape. */
export function maxAbsDifference(a: Npy, b: Npy): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.values as number[], y = b.values as number[];
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  return worst;
}
