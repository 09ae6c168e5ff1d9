// What the figures of a run show, and why a missed target was missed.
import type { BenchResults } from './report.ts';

export function findings(results: BenchResults): string[] {
  void results;
  return [];
}
