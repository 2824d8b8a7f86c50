// Charts of the convergence results: Vega-Lite specs, rendered to SVG by bench/common/svg.ts.

import type * as vl from "vega-lite";

export { renderSvg } from "../common/svg";

export interface CurvePoint {
  series: string;
  x: number;
  y: number;
}

/**
 * Training loss against steps (log scale), and evaluation accuracy against epochs, side by side.
 * The axis titles stay short: a rotated title longer than the plot pushes Vega's layout apart.
 */
export function lossAndAccuracySpec(title: string, subtitle: string, loss: CurvePoint[], accuracy: CurvePoint[], order: string[]): vl.TopLevelSpec {
  const color = { field: "series", type: "nominal" as const, title: null, sort: order, scale: { scheme: "category10" } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle, anchor: "start" },
    config: { font: "sans-serif", legend: { orient: "bottom", columns: 3, labelLimit: 320 } },
    hconcat: [
      {
        width: 360,
        height: 240,
        data: { values: loss },
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x: { field: "x", type: "quantitative", title: "step" },
          y: { field: "y", type: "quantitative", title: "training loss", scale: { type: "log" } },
          color,
        },
      },
      {
        width: 240,
        height: 240,
        data: { values: accuracy },
        mark: { type: "line", point: true, strokeWidth: 1.5 },
        encoding: {
          x: { field: "x", type: "quantitative", title: "epoch", axis: { tickMinStep: 1 } },
          y: { field: "y", type: "quantitative", title: "test accuracy %", scale: { zero: false } },
          color,
        },
      },
    ],
  };
}
