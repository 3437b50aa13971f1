/** Units for people: one meaning of "MB" everywhere (settings, sizes, progress). Pure. */

/** One megabyte as Attention Lens counts it (SI, like the size limits in the settings). */
export const BYTES_PER_MB = 1e6;
/** One gigabyte (SI). */
export const BYTES_PER_GB = 1e9;

/** Human size: "12.3 MB", "1.4 GB". */
export function formatBytes(n: number): string {
  return n >= BYTES_PER_GB ? `${(n / BYTES_PER_GB).toFixed(1)} GB` : `${(n / BYTES_PER_MB).toFixed(1)} MB`;
}
