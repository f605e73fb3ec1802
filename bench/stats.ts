/** Middle value of repeated measurements: robust to the one slow run a shared machine throws in. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
