// Loss (log scale) and PSNR against the step, one line per network, and the per-network
// table (four images trains four networks).
import { $, element, fmt, fmtExp } from "./dom.js";
import { current, on } from "./store.js";

const LINE_COLORS = ["#5aa9ff", "#62d39a", "#ffb35a", "#d98cff"];

// [{loss, psnr, history: {loss, psnr}}] from the state (one network when there is no list).
export function networks(state) {
  if (Array.isArray(state.networks) && state.networks.length) return state.networks;
  return [{ loss: state.loss, psnr: state.psnr, history: state.history || { loss: [], psnr: [] } }];
}

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return [ctx, width, height];
}

// One chart: every series (a list of [step, value]) on shared axes.
function drawChart(canvas, series, title, label) {
  const [ctx, width, height] = fitCanvas(canvas);
  const pad = { left: 48, right: 10, top: 18, bottom: 20 };
  const x0 = pad.left, x1 = width - pad.right, y0 = height - pad.bottom, y1 = pad.top;
  ctx.strokeStyle = "#353a45";
  ctx.strokeRect(x0, y1, x1 - x0, y0 - y1);
  ctx.fillStyle = "#8a91a0";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(title, x0, 12);
  const all = series.flat();
  if (all.length === 0) return;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  let yMin = Math.min(...ys), yMax = Math.max(...ys);
  if (yMax - yMin < 1e-9) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const sx = (x) => x0 + (xMax > xMin ? (x - xMin) / (xMax - xMin) : 0.5) * (x1 - x0);
  const sy = (y) => y0 - ((y - yMin) / (yMax - yMin)) * (y0 - y1);
  ctx.fillText(label(yMax), 2, y1 + 8);
  ctx.fillText(label(yMin), 2, y0);
  ctx.fillText(`step ${xMax.toLocaleString("en-US")}`, x1 - 80, height - 5);
  series.forEach((points, n) => {
    const color = LINE_COLORS[n % LINE_COLORS.length];
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 1.5;
    if (points.length === 1) { // one point is no line yet: a dot
      ctx.fillRect(sx(points[0][0]) - 2, sy(points[0][1]) - 2, 4, 4);
    }
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
    ctx.stroke();
    // The legend on the title's line, clear of the curves.
    if (series.length > 1) ctx.fillText(`net ${n}`, x1 - 42 * (series.length - n), 12);
  });
}

function renderTable(list) {
  const table = $("networks");
  table.hidden = list.length < 2;
  if (table.hidden) return;
  table.tBodies[0].replaceChildren(
    ...list.map((net, i) => {
      const swatch = element("span", { className: "swatch" });
      swatch.style.background = LINE_COLORS[i % LINE_COLORS.length];
      return element(
        "tr",
        {},
        element("td", {}, swatch, ` ${i}`),
        element("td", { textContent: net.label || "" }),
        element("td", { textContent: fmtExp(net.loss) }),
        element("td", { textContent: fmt(net.psnr, 2, " dB") }),
      );
    }),
  );
}

on("state", () => {
  const s = current();
  if (!s) return;
  const list = networks(s);
  renderTable(list);
  const loss = list.map((n) =>
    (n.history ? n.history.loss : []).filter((p) => p[1] > 0).map(([x, y]) => [x, Math.log10(y)]),
  );
  const psnr = list.map((n) => (n.history ? n.history.psnr : []));
  drawChart($("chart-loss"), loss, "loss (log10)", (v) => `1e${v.toFixed(1)}`);
  drawChart($("chart-psnr"), psnr, "PSNR (dB)", (v) => v.toFixed(1));
});
