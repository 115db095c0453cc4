// Charts: uPlot (vendored, console/vendor/uplot) in a container that follows its width.

import uPlot from "../vendor/uplot/uPlot.esm.js";

/** Colours with at least 3:1 contrast on white, told apart without relying on hue alone (dashes differ too). */
export const PALETTE = ["#0b57d0", "#b3261e", "#146c2e", "#8a4b00", "#6d28d9", "#0e7490", "#be185d", "#4d5562"];

/**
 * A chart in `container`, made again when `set(options, data)` changes its series, else given the new data.
 * `options` are uPlot's, without width and height (the container's width, `height` given here).
 */
export function chart(container, height = 260) {
  let plot = null;
  let signature = "";
  const width = () => Math.max(320, container.clientWidth || 640);
  new ResizeObserver(() => plot && container.clientWidth && plot.setSize({ width: width(), height })).observe(
    container,
  );
  return {
    set(options, data) {
      const sig = JSON.stringify(options.series.map((s) => [s.label, s.scale, s.stroke]));
      if (plot && sig === signature) {
        plot.setData(data);
        return plot;
      }
      plot?.destroy();
      signature = sig;
      plot = new uPlot({ ...options, width: width(), height }, data, container);
      return plot;
    },
    get plot() {
      return plot;
    },
  };
}

export { uPlot };
