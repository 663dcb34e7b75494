/* The dashboard page: fetch each chart's JSON, draw it, and poll the small summary view; when the
   portfolio's version (its last audit row) changes, refresh the numbers and the charts in place.
   When every chart has drawn, body[data-drawn] is set and window.__dashboardDrawnAt holds the
   browser's own time (performance.now()) of that moment. */
(function () {
  "use strict";
  var script = document.getElementById("dashboard-script");
  var base = script.dataset.base;
  var pollMs = Number(new URLSearchParams(window.location.search).get("poll") || script.dataset.poll || 5000);
  var summaryEl = document.getElementById("summary");
  var version = Number(summaryEl.dataset.version);
  var C = window.CAE.charts, pct = window.CAE.pct, num = window.CAE.num, money = window.CAE.money, words = window.CAE.words;

  // chart element -> [data part, option function]
  var CHARTS = {
    "chart-allocation": ["allocation", C.allocation],
    "chart-target": ["allocation", C.target],
    "chart-scatter": ["allocation", C.scatter],
    "chart-heatmap": ["history", C.heatmap],
    "chart-trends": ["history", C.trends],
    "chart-equity": ["history", C.equity],
    "chart-risk": ["risk", C.risk],
    "chart-schedule": ["schedule", C.schedule]
  };
  var instances = {};
  Object.keys(CHARTS).forEach(function (id) {
    instances[id] = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  });
  window.addEventListener("resize", function () {
    Object.keys(instances).forEach(function (id) { instances[id].resize(); });
  });

  function getJSON(part) {
    return fetch(base + "data/" + part + ".json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(part + ": HTTP " + r.status); return r.json(); });
  }

  function draw(id, option) {
    performance.mark("draw:" + id);
    return new Promise(function (resolve) {
      var chart = instances[id];
      var done = function () { chart.off("finished", done); performance.mark("drawn:" + id); resolve(id); };
      chart.on("finished", done);
      option.animation = false; // "finished" then means drawn, not still animating
      option.animationDurationUpdate = 0;
      chart.setOption(option, { notMerge: true });
    });
  }

  /* Page text is built as DOM nodes with textContent, never as HTML from the data: a strategy
     code or a user name is text, whatever characters it holds. */
  function node(tag, text, className) {
    var el = document.createElement(tag);
    if (text != null) el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function fill(el, pairs) {
    el.replaceChildren.apply(el, pairs.map(function (p) {
      var div = node("div");
      var dd = node("dd");
      (Array.isArray(p[1]) ? p[1] : [p[1]]).forEach(function (part) {
        dd.appendChild(typeof part === "string" ? document.createTextNode(part) : part);
      });
      div.append(node("dt", p[0]), dd);
      return div;
    }));
  }

  function riskText(data, history) {
    var r = data.risk, caps = data.caps, h = history.metrics;
    var vol = r.ex_ante_volatility;
    var over = vol != null && caps.max_total_risk != null && vol > caps.max_total_risk;
    var volNode = node("span", pct(vol), over ? "down" : "");
    volNode.id = "risk-vol";
    fill(document.getElementById("risk-figures"), [
      ["Ex-ante volatility / cap (a year)", [volNode, " / " + pct(caps.max_total_risk)]],
      ["Effective strategies", num(r.effective_number_of_strategies, 1)],
      ["Cash", pct(r.cash) + " of equity"],
      ["Largest weight", pct(r.largest_weight) + " " + (r.largest_weight_strategy || "")],
      ["Realised (" + h.days + " d)", h.days ? pct(h.total_return) + ", Sharpe " + num(h.sharpe) + ", max drawdown " + pct(h.max_drawdown) : "—"]
    ]);
    var counts = Object.keys(data.binding_counts).map(function (k) { return k + ": " + data.binding_counts[k]; });
    var removed = Object.keys(data.limits_removed).map(function (k) { return k + " " + pct(data.limits_removed[k]); });
    var bound = data.bound_strategies.slice(0, 5).map(function (b) { return b.strategy + " (" + b.binding_limit + ", −" + pct(b.excess) + ")"; });
    var limits = node("p");
    limits.append(node("strong", "Binding limits"), " (target in force): " + (counts.length ? counts.join(", ") : "none") +
      (removed.length ? "; weight removed by " + removed.join(", ") : ""));
    var parts = [limits];
    if (bound.length) {
      var cut = node("ul", null, "bound-list");
      bound.forEach(function (text) { cut.appendChild(node("li", text)); });
      parts.push(node("p", "Most cut:"), cut);
    }
    document.getElementById("risk-limits").replaceChildren.apply(document.getElementById("risk-limits"), parts);
  }

  function scheduleText(data) {
    var s = data.schedule;
    document.getElementById("schedule-note").textContent = s
      ? "Schedule " + s.id + " (" + (s.status_text || words(s.status)) + "): step " + s.applied + " of " + s.steps + " applied" +
        (s.next_due ? ", next due " + s.next_due : "") + (data.close_reason ? "; " + data.close_reason : "")
      : "";
  }

  function drawAll() {
    var parts = {};
    Object.keys(CHARTS).forEach(function (id) { parts[CHARTS[id][0]] = true; });
    var names = Object.keys(parts);
    return Promise.all(names.map(getJSON)).then(function (results) {
      var data = {};
      names.forEach(function (n, i) { data[n] = results[i]; });
      riskText(data.risk, data.history);
      scheduleText(data.schedule);
      return Promise.all(Object.keys(CHARTS).map(function (id) {
        return draw(id, CHARTS[id][1](data[CHARTS[id][0]]));
      }));
    });
  }

  function summaryText(s) {
    document.getElementById("s-equity").textContent = money(s.total_equity, s.currency);
    document.getElementById("s-capital").textContent = money(s.capital, s.currency);
    document.getElementById("s-method").textContent = s.method || "—";
    var run = s.last_run, cell = document.getElementById("s-last-run");
    if (run) {
      var link = node("a", run.status_text || words(run.status));
      link.href = base + "runs/" + encodeURIComponent(run.allocation_id) + "/";
      cell.replaceChildren(link);
    } else {
      cell.textContent = "—";
    }
    document.getElementById("s-pending").textContent = String(s.pending.length);
    var a = s.active_schedule;
    document.getElementById("s-schedule").textContent = a ? "step " + a.applied + " of " + a.steps + " applied" : "none active";
  }

  function poll() {
    getJSON("summary").then(function (s) {
      if (s.version !== version) {
        version = s.version;
        summaryEl.dataset.version = String(version);
        summaryText(s);
        document.getElementById("s-updated").textContent = "Updated " + new Date().toLocaleTimeString() + ".";
        return drawAll();
      }
    }).catch(function (e) { document.getElementById("s-updated").textContent = "Refresh failed: " + e.message; })
      .then(function () { window.setTimeout(poll, pollMs); });
  }

  drawAll().then(function () {
    window.__dashboardDrawnAt = performance.now();
    document.body.dataset.drawn = "true";
    window.setTimeout(poll, pollMs);
  }).catch(function (e) {
    document.getElementById("s-updated").textContent = "Could not draw the charts: " + e.message;
    throw e;
  });
})();
