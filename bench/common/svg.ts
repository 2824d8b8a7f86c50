// Vega-Lite specs compiled and rendered to SVG headless by Vega (renderer 'none': no browser,
// no canvas), for the charts in docs/.
import * as vega from "vega";
import * as vl from "vega-lite";

export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
