/* stockbot dashboard: tabs, the English / 中文 toggle (saved in localStorage), charts, staleness.
   Text comes only from the i18n dictionary embedded in the page and is set with textContent. */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  var messages = readJson("i18n-data"), boot = readJson("boot-data"), charts = readJson("chart-data");
  var langs = boot.langs || ["en"];

  function savedLang() {
    try {
      var v = window.localStorage.getItem(boot.storageKey);
      if (langs.indexOf(v) >= 0) { return v; }
    } catch (e) { /* storage disabled: fall back to the default */ }
    return boot.defaultLang || "en";
  }

  function saveLang(v) {
    try { window.localStorage.setItem(boot.storageKey, v); } catch (e) { /* not persisted */ }
  }

  function fill(template, args) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(args, k) ? String(args[k]) : m;
    });
  }

  function applyLang(lang) {
    var dict = messages[lang] || messages[boot.defaultLang] || {};
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      var template = dict[node.getAttribute("data-i18n")];
      if (typeof template !== "string") { return; }
      var args = {};
      var raw = node.getAttribute("data-i18n-args");
      if (raw) { try { args = JSON.parse(raw); } catch (e) { args = {}; } }
      node.textContent = fill(template, args);
    });
    document.documentElement.setAttribute("lang", lang === "zh" ? "zh-CN" : "en");
    document.documentElement.setAttribute("data-lang", lang);
    document.querySelectorAll(".lang-btn").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lang") === lang ? "true" : "false");
    });
  }

  function tabs() { return Array.prototype.slice.call(document.querySelectorAll('[role="tab"]')); }

  function drawCharts(panel) {
    if (!panel || !window.StockbotChart) { return; }
    panel.querySelectorAll(".chart").forEach(function (box) {
      var series = charts[box.getAttribute("data-account")] || {};
      var kind = box.getAttribute("data-chart");
      window.StockbotChart.lineChart(box, series[kind] || [], {kind: kind, unit: kind === "drawdown" ? "pct" : "usd"});
    });
  }

  function select(key, focus) {
    var found = false;
    tabs().forEach(function (tab) {
      var on = tab.getAttribute("data-account") === key;
      found = found || on;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.setAttribute("tabindex", on ? "0" : "-1");
      var panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (panel) { panel.hidden = !on; }
      if (on && focus) { tab.focus(); }
    });
    if (!found) { return false; }
    if (window.history && window.history.replaceState) { window.history.replaceState(null, "", "#" + key); }
    drawCharts(document.getElementById("panel-" + key));
    return true;
  }

  function current() {
    var t = document.querySelector('[role="tab"][aria-selected="true"]');
    return t ? t.getAttribute("data-account") : null;
  }

  function checkStale() {
    var banner = document.getElementById("stale");
    if (banner && boot.generated) { banner.hidden = Date.now() - boot.generated <= boot.staleAfterMs; }
  }

  function init() {
    applyLang(savedLang());
    document.querySelectorAll(".lang-btn").forEach(function (b) {
      b.addEventListener("click", function () {
        var lang = b.getAttribute("data-lang");
        saveLang(lang);
        applyLang(lang);
      });
    });
    tabs().forEach(function (tab, i, all) {
      tab.addEventListener("click", function () { select(tab.getAttribute("data-account"), false); });
      tab.addEventListener("keydown", function (ev) {
        var j = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1}[ev.key];
        if (j === undefined) { return; }
        ev.preventDefault();
        select(all[(j + all.length) % all.length].getAttribute("data-account"), true);
      });
    });
    var wanted = decodeURIComponent((window.location.hash || "").slice(1));
    if (!wanted || !select(wanted, false)) {
      var first = tabs()[0];
      if (first) { select(first.getAttribute("data-account"), false); }
    }
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { drawCharts(document.getElementById("panel-" + current())); }, 150);
    });
    window.addEventListener("storage", function (ev) {
      if (ev.key === boot.storageKey && langs.indexOf(ev.newValue) >= 0) { applyLang(ev.newValue); }
    });
    checkStale();
    setInterval(checkStale, 60000);
    document.documentElement.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
