/* stockbot dashboard: a small SVG line/area chart (no libraries, no network).
   Every label is set with textContent, never parsed as HTML. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(node);
    return node;
  }

  /* Round tick values (1, 2, 2.5, 5 x 10^n) covering [min, max]. */
  function ticks(min, max, count) {
    if (!(max > min)) { return [min]; }
    var raw = (max - min) / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (f) { return f * mag; })
      .filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  /* Compact axis money: $102.5k, $1.25M; exact enough that neighbouring ticks never look equal. */
  function money(v) {
    var a = Math.abs(v), s = v < 0 ? "-" : "";
    if (a >= 1e6) { return s + "$" + String(+(a / 1e6).toFixed(3)) + "M"; }
    if (a >= 1e4) { return s + "$" + String(+(a / 1e3).toFixed(2)) + "k"; }
    return s + "$" + String(+a.toFixed(2));
  }

  function fmtValue(v, unit, exact) {
    if (unit === "pct") { return v.toFixed(exact ? 2 : 1) + "%"; }
    if (exact) {
      return (v < 0 ? "-$" : "$") + Math.abs(v).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
    }
    return money(v);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function fmtDate(ms, spanMs, exact) {
    var d = new Date(ms);
    var day = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
    var time = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + "Z";
    if (exact) { return day + " " + time; }
    if (spanMs < 2 * 86400000) { return time; }
    if (spanMs > 400 * 86400000) { return day.slice(0, 7); }
    return day.slice(5);
  }

  function nearest(points, t) {
    var lo = 0, hi = points.length - 1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (points[mid][0] < t) { lo = mid; } else { hi = mid; }
    }
    return Math.abs(points[lo][0] - t) <= Math.abs(points[hi][0] - t) ? lo : hi;
  }

  /* Draw points ([[epoch ms, value], ...]) into container. opts: {unit: "usd"|"pct", kind, height}. */
  function lineChart(container, points, opts) {
    opts = opts || {};
    while (container.firstChild) { container.removeChild(container.firstChild); }
    if (!points || !points.length) { return null; }
    var w = Math.max(280, container.clientWidth || 600), h = opts.height || 220;
    var m = {l: 62, r: 14, t: 12, b: 26};
    var t0 = points[0][0], t1 = points[points.length - 1][0];
    if (t1 === t0) { t0 -= 3600000; t1 += 3600000; }
    var vals = points.map(function (p) { return p[1]; });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (opts.kind === "drawdown") { hi = 0; lo = Math.min(lo, -1); }
    if (hi === lo) { var padv = Math.abs(hi) * 0.01 || 1; lo -= padv; hi += padv; }
    var span = hi - lo; lo -= span * 0.06; hi += opts.kind === "drawdown" ? 0 : span * 0.06;
    var yt = ticks(lo, hi, 4);
    function x(t) { return m.l + (t - t0) / (t1 - t0) * (w - m.l - m.r); }
    function y(v) { return m.t + (hi - v) / (hi - lo) * (h - m.t - m.b); }

    var svg = el("svg", {viewBox: "0 0 " + w + " " + h, width: "100%", height: h, "class": "chart-svg " + (opts.kind || "")}, container);
    var grid = el("g", {"class": "grid"}, svg);
    yt.forEach(function (v) {
      if (v < lo || v > hi) { return; }
      el("line", {x1: m.l, x2: w - m.r, y1: y(v), y2: y(v)}, grid);
      el("text", {x: m.l - 6, y: y(v) + 4, "text-anchor": "end", "class": "tick"}, grid).textContent = fmtValue(v, opts.unit);
    });
    var nx = Math.max(2, Math.min(6, Math.floor((w - m.l - m.r) / 110)));
    for (var i = 0; i <= nx; i++) {
      var t = t0 + (t1 - t0) * i / nx;
      el("text", {x: x(t), y: h - 8, "text-anchor": i === 0 ? "start" : (i === nx ? "end" : "middle"), "class": "tick"}, grid)
        .textContent = fmtDate(t, t1 - t0, false);
    }
    var line = points.map(function (p, k) { return (k ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
    var base = opts.kind === "drawdown" ? y(0) : h - m.b;
    el("path", {d: line + " L" + x(points[points.length - 1][0]).toFixed(1) + " " + base + " L" + x(points[0][0]).toFixed(1) + " " + base + " Z", "class": "area"}, svg);
    el("path", {d: line, "class": "line"}, svg);
    var last = points[points.length - 1];
    el("circle", {cx: x(last[0]), cy: y(last[1]), r: 3.5, "class": "last"}, svg);

    var hover = el("g", {"class": "hover", visibility: "hidden"}, svg);
    var vline = el("line", {y1: m.t, y2: h - m.b}, hover);
    var dot = el("circle", {r: 4}, hover);
    var box = el("rect", {rx: 4, height: 36}, hover);
    var l1 = el("text", {"class": "tip"}, hover), l2 = el("text", {"class": "tip strong"}, hover);
    var overlay = el("rect", {x: m.l, y: m.t, width: w - m.l - m.r, height: h - m.t - m.b, "class": "overlay"}, svg);
    overlay.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect();
      var px = (ev.clientX - r.left) * (w / r.width);
      var p = points[nearest(points, t0 + (px - m.l) / (w - m.l - m.r) * (t1 - t0))];
      var cx = x(p[0]), cy = y(p[1]);
      vline.setAttribute("x1", cx); vline.setAttribute("x2", cx);
      dot.setAttribute("cx", cx); dot.setAttribute("cy", cy);
      l1.textContent = fmtDate(p[0], 0, true);
      l2.textContent = fmtValue(p[1], opts.unit, true);
      var bw = 150, bx = cx + 10 + bw > w - m.r ? cx - 10 - bw : cx + 10;
      box.setAttribute("x", bx); box.setAttribute("y", m.t + 2); box.setAttribute("width", bw);
      l1.setAttribute("x", bx + 8); l1.setAttribute("y", m.t + 16);
      l2.setAttribute("x", bx + 8); l2.setAttribute("y", m.t + 31);
      hover.setAttribute("visibility", "visible");
    });
    overlay.addEventListener("mouseleave", function () { hover.setAttribute("visibility", "hidden"); });
    return svg;
  }

  window.StockbotChart = {lineChart: lineChart, ticks: ticks, money: money};
})();
