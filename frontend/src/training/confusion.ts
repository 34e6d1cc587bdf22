/** Data for the confusion-matrix grid: per cell its count, the fraction of its true class (row), and
 * a shade; the diagonal marked correct. Pure, for the Results view and its tests. */

export interface ConfusionCell {
  row: number;
  col: number;
  count: number;
  /** count / the row's total (0 when the row is empty). */
  rowFraction: number;
  correct: boolean;
}

export interface ConfusionView {
  classes: string[];
  cells: ConfusionCell[][];
  rowTotals: number[];
  total: number;
  accuracy: number;
  /** Per class: recall = diagonal / row total (null when the class never occurs). */
  recall: (number | null)[];
}

export function confusionView(classes: string[], matrix: number[][]): ConfusionView {
  const n = matrix.length;
  const names = classes.length === n ? classes : Array.from({ length: n }, (_, i) => classes[i] ?? String(i));
  const rowTotals = matrix.map((r) => r.reduce((a, b) => a + b, 0));
  const total = rowTotals.reduce((a, b) => a + b, 0);
  let diag = 0;
  const cells = matrix.map((r, i) =>
    r.map((count, j) => {
      if (i === j) diag += count;
      return { row: i, col: j, count, rowFraction: rowTotals[i] ? count / rowTotals[i] : 0, correct: i === j };
    }),
  );
  return {
    classes: names,
    cells,
    rowTotals,
    total,
    accuracy: total ? diag / total : 0,
    recall: matrix.map((r, i) => (rowTotals[i] ? r[i] / rowTotals[i] : null)),
  };
}
