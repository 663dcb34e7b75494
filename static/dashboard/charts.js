/* The dashboard's charts: each is a pure function of its JSON (from /portfolios/{slug}/data/*.json)
   returning an ECharts option. dashboard.js fetches the JSON and draws. */
(function () {
  "use strict";
  var TOP = 30;
  /* Units as allocations/display.py writes them: weights as percent of equity with two decimals
     ("12.34 %"), amounts in the portfolio's currency, statuses in words. */
  var pct = function (x, digits) { return x == null || !isFinite(x) ? "—" : (x * 100).toFixed(digits == null ? 2 : digits) + " %"; };
  var num = function (x, digits) { return x == null ? "—" : Number(x).toFixed(digits == null ? 2 : digits); };
  var money = function (x, currency) {
    if (x == null) return "—";
    var text = Number(x).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return currency ? text + " " + currency : text;
  };
  var words = function (status) { return status == null ? "—" : status === "no_op" ? "no change needed" : String(status).replace(/_/g, " "); };
  /* Tooltips are HTML: every text from the data (codes, names, sectors, users) goes in escaped. */
  var ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  var esc = function (text) { return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) { return ESCAPES[c]; }); };
  var palette = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#ec4899", "#64748b", "#f97316"];
  var STEP_COLORS = { applied: "#10b981", pending: "#f59e0b", superseded: "#9ca3af", cancelled: "#ef4444" };

  function empty(text) {
    return { title: { text: text, left: "center", top: "middle", textStyle: { color: "#6b7280", fontSize: 13, fontWeight: "normal" } }, series: [] };
  }

  function sectorColors(codes) {
    var out = {};
    codes.slice().sort().forEach(function (c, i) { out[c] = palette[i % palette.length]; });
    return out;
  }

  /* Treemap of current weights: the TOP largest strategies by sector, the rest as one "others" tile.
     A tile's label is its code over its percentage, each on its own line; a tile too small for both
     shows what fits (truncated), never one line over the other. */
  function allocation(data) {
    var held = data.strategies.filter(function (s) { return s.current > 0; })
      .sort(function (a, b) { return b.current - a.current; });
    if (!held.length) return empty("No capital allocated yet");
    var colors = sectorColors(Array.from(new Set(data.strategies.map(function (s) { return s.sector; }))));
    var tiles = held.slice(0, TOP).map(function (s) {
      return { name: s.code, value: s.current, sector: s.sector, title: s.name, itemStyle: { color: colors[s.sector] } };
    });
    var rest = held.slice(TOP);
    if (rest.length) {
      tiles.push({
        name: "others (" + rest.length + ")", value: rest.reduce(function (t, s) { return t + s.current; }, 0),
        sector: "several", itemStyle: { color: "#cbd5e1" }
      });
    }
    return {
      tooltip: { formatter: function (p) {
        var title = p.data.title && p.data.title !== p.name ? " — " + esc(p.data.title) : "";
        return "<strong>" + esc(p.name) + "</strong>" + title + "<br>" + esc(p.data.sector) + ": " + pct(p.value) + " of equity";
      } },
      series: [{
        type: "treemap", data: tiles, roam: false, nodeClick: false, breadcrumb: { show: false }, animation: false,
        width: "100%", height: "100%",
        label: {
          formatter: function (p) {
            var dark = p.data.sector === "several" ? "Dark" : ""; // dark text on the light "others" tile
            return "{code" + dark + "|" + p.name.replace(/[{}|]/g, "") + "}\n{share" + dark + "|" + pct(p.value) + "}";
          },
          overflow: "truncate", ellipsis: "…",
          rich: {
            code: { fontSize: 12, lineHeight: 16, color: "#fff" }, share: { fontSize: 11, lineHeight: 15, color: "#fff" },
            codeDark: { fontSize: 12, lineHeight: 16, color: "#1f2937" }, shareDark: { fontSize: 11, lineHeight: 15, color: "#1f2937" }
          }
        }
      }]
    };
  }

  /* Current against the target in force (the active schedule's run, else the last applied run) for
     the TOP largest moves; a run waiting for approval is drawn apart, as "pending approval": it
     moved nothing and may be rejected. */
  function target(data) {
    var pending = data.pending_run != null;
    var goal = function (s) { return s.target != null ? s.target : (pending && s.pending != null ? s.pending : s.current); };
    var rows = data.strategies.filter(function (s) { return s.target != null || (pending && s.pending != null); });
    if (!rows.length) return empty("No run has set a target yet");
    var moved = function (s) { return Math.max(Math.abs(goal(s) - s.current), pending && s.pending != null ? Math.abs(s.pending - s.current) : 0); };
    rows.sort(function (a, b) { return moved(b) - moved(a) || goal(b) - goal(a); });
    rows = rows.slice(0, TOP).reverse();
    var series = [
      { name: "current", type: "bar", data: rows.map(function (s) { return s.current; }), itemStyle: { color: "#94a3b8" } },
      { name: "target in force", type: "bar", data: rows.map(function (s) { return s.target; }), itemStyle: { color: "#2563eb" } }
    ];
    if (pending) {
      series.push({ name: "pending approval", type: "bar", data: rows.map(function (s) { return s.pending; }),
        itemStyle: { color: "#fbbf24", borderColor: "#b45309", borderType: "dashed", borderWidth: 1 } });
    }
    return {
      tooltip: { trigger: "axis", valueFormatter: function (v) { return pct(v); } },
      legend: { top: 0 },
      grid: { left: 80, right: 20, top: 28, bottom: 24 },
      xAxis: { type: "value", axisLabel: { formatter: function (v) { return pct(v, 1); } } },
      yAxis: { type: "category", data: rows.map(function (s) { return s.code; }), axisLabel: { fontSize: 10 } },
      series: series
    };
  }

  /* Sectors against time; cells at or above the sector cap in red. */
  function heatmap(data) {
    if (!data.dates.length) return empty("No allocation history yet");
    var cap = data.sector_cap, cells = [];
    data.sector_exposure.forEach(function (row, t) {
      row.forEach(function (v, s) { cells.push([t, s, v]); });
    });
    var pieces = cap == null ? [{ min: 0 }] : [
      { min: 0, max: cap * 0.5, color: "#dbeafe", label: "< " + pct(cap * 0.5) },
      { min: cap * 0.5, max: cap * 0.8, color: "#93c5fd", label: pct(cap * 0.5) + " – " + pct(cap * 0.8) },
      { min: cap * 0.8, max: cap - 1e-9, color: "#2563eb", label: pct(cap * 0.8) + " – " + pct(cap) },
      { min: cap - 1e-9, color: "#dc2626", label: "at or above the sector cap " + pct(cap) }
    ];
    return {
      tooltip: { formatter: function (p) { return esc(data.dates[p.value[0]]) + " " + esc(data.sectors[p.value[1]]) + ": " + pct(p.value[2]) + " of equity"; } },
      grid: { left: 90, right: 20, top: 10, bottom: 70 },
      xAxis: { type: "category", data: data.dates, splitArea: { show: false }, axisLabel: { fontSize: 10 } },
      yAxis: { type: "category", data: data.sectors },
      visualMap: { type: "piecewise", pieces: pieces, orient: "horizontal", left: "center", bottom: 0, dimension: 2 },
      series: [{ type: "heatmap", data: cells, progressive: 0, emphasis: { itemStyle: { borderColor: "#111", borderWidth: 1 } } }]
    };
  }

  /* The top of a weight axis: the data's largest value or the cap it is drawn against, whichever is
     higher (ECharts fits the axis to the data only, and a cap line above it was not drawn). */
  function axisTop(values, cap) {
    var top = Math.max.apply(null, [cap == null ? 0 : cap].concat(values.filter(function (v) { return v != null; })));
    return Math.min(1, Math.ceil(top * 1.1 * 20) / 20) || 0.05; // the next 5 % above, at most 100 %
  }

  /* Weights over time: every sector (top panel, with the cap) and the largest strategies (bottom). */
  function trends(data) {
    if (!data.dates.length) return empty("No allocation history yet");
    var cap = data.sector_cap;
    var sectorSeries = data.sectors.map(function (code, s) {
      return { name: code, type: "line", showSymbol: false, xAxisIndex: 0, yAxisIndex: 0,
        data: data.sector_exposure.map(function (row) { return row[s]; }) };
    });
    if (cap != null && sectorSeries.length) {
      sectorSeries[0].markLine = { silent: true, symbol: "none", lineStyle: { color: "#dc2626", type: "dashed" },
        label: { formatter: "sector cap " + pct(cap), position: "insideEndTop", color: "#dc2626" }, data: [{ yAxis: cap }] };
    }
    var strategySeries = data.strategies.map(function (s) {
      return { name: s.code, type: "line", showSymbol: false, xAxisIndex: 1, yAxisIndex: 1, data: s.weights };
    });
    var axisPct = { formatter: function (v) { return pct(v, 0); } };
    var sectorValues = [].concat.apply([], data.sector_exposure);
    return {
      tooltip: { trigger: "axis", valueFormatter: function (v) { return pct(v); } },
      legend: { type: "scroll", top: 0 },
      grid: [{ left: 56, right: 20, top: 48, height: "33%" }, { left: 56, right: 20, top: "58%", bottom: 24 }],
      xAxis: [{ type: "category", data: data.dates, gridIndex: 0, axisLabel: { show: false } },
              { type: "category", data: data.dates, gridIndex: 1, axisLabel: { fontSize: 10 } }],
      yAxis: [{ type: "value", gridIndex: 0, name: "sectors, % of equity", nameTextStyle: { align: "left" },
                min: 0, max: axisTop(sectorValues, cap), axisLabel: axisPct },
              { type: "value", gridIndex: 1, name: "largest strategies, % of equity", nameTextStyle: { align: "left" },
                min: 0, axisLabel: axisPct }],
      series: sectorSeries.concat(strategySeries)
    };
  }

  /* Each strategy's Sharpe (over the policy's lookback) against its weight, one colour per sector. */
  function scatter(data) {
    var bySector = {};
    data.strategies.forEach(function (s) {
      if (s.sharpe == null) return;
      (bySector[s.sector] = bySector[s.sector] || []).push([s.current, s.sharpe, s.code, s["return"], s.volatility, s.name]);
    });
    var sectors = Object.keys(bySector).sort();
    if (!sectors.length) return empty("No returns to measure yet");
    var colors = sectorColors(sectors);
    return {
      tooltip: { formatter: function (p) {
        var v = p.value, title = v[5] && v[5] !== v[2] ? " — " + esc(v[5]) : "";
        return "<strong>" + esc(v[2]) + "</strong>" + title + " (" + esc(p.seriesName) + ")<br>weight " + pct(v[0]) + " of equity, Sharpe " + num(v[1]) +
          "<br>return " + pct(v[3]) + ", volatility " + pct(v[4]) + " a year";
      } },
      legend: { type: "scroll", top: 0 },
      grid: { left: 50, right: 20, top: 48, bottom: 40 },
      xAxis: { type: "value", name: "weight, % of equity", nameLocation: "middle", nameGap: 26, axisLabel: { formatter: function (v) { return pct(v, 1); } } },
      yAxis: { type: "value", name: "Sharpe (" + data.lookback + " d)" },
      series: sectors.map(function (code) {
        return { name: code, type: "scatter", symbolSize: 7, data: bySector[code], itemStyle: { color: colors[code] }, large: bySector[code].length > 500 };
      })
    };
  }

  /* The largest risk contributions of the target in force: each strategy's share of the book's
     ex-ante variance, w_i (Σw)_i / wᵀΣw, so the shares of all strategies add up to 100 %. */
  function risk(data) {
    var rows = data.largest_risk_contributions.slice().reverse();
    if (!rows.length) return empty("No run yet");
    return {
      title: { text: "Largest risk contributions", subtext: "share of the book's ex-ante variance, %", left: 0, top: 0,
        textStyle: { fontSize: 12, lineHeight: 16 }, subtextStyle: { fontSize: 11, lineHeight: 14 }, itemGap: 4 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return pct(v) + " of the variance"; } },
      grid: { left: 80, right: 20, top: 44, bottom: 24 },
      xAxis: { type: "value", min: 0, axisLabel: { formatter: function (v) { return pct(v, 0); } } },
      yAxis: { type: "category", data: rows.map(function (r) { return r.strategy; }), axisLabel: { fontSize: 10 } },
      series: [{ name: "risk contribution", type: "bar", data: rows.map(function (r) { return r.risk_contribution; }), itemStyle: { color: "#8b5cf6" } }]
    };
  }

  /* The latest schedule's steps on their due dates, coloured by status: the step above the point,
     its status below it, labels that would overlap (a long schedule) hidden. */
  function schedule(data) {
    if (!data.steps.length) return empty("No transition schedule yet");
    var points = data.steps.map(function (s, i) {
      return { value: [i, 0], step: s, itemStyle: { color: STEP_COLORS[s.status] || "#64748b" } };
    });
    return {
      tooltip: { formatter: function (p) {
        var s = p.data.step;
        return "step " + s.index + " of " + data.steps.length + ", due " + esc(s.due_date) + ": " + esc(s.status_text || words(s.status)) +
          (s.applied_at ? "<br>applied " + esc(s.applied_at_text || s.applied_at) + " by " + esc(s.applied_by) : "");
      } },
      grid: { left: 30, right: 30, top: 36, bottom: 48 },
      xAxis: { type: "category", data: data.steps.map(function (s) { return s.due_date; }), axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", show: false, min: -1, max: 1 },
      series: [
        { type: "scatter", symbolSize: 22, data: points, encode: { x: 0, y: 1 }, labelLayout: { hideOverlap: true },
          label: { show: true, position: "top", distance: 6, fontSize: 11, formatter: function (p) { return "step " + p.data.step.index; } } },
        { type: "scatter", symbolSize: 0, silent: true, data: points.map(function (p) { return { value: p.value, step: p.step }; }),
          encode: { x: 0, y: 1 }, labelLayout: { hideOverlap: true }, tooltip: { show: false },
          label: { show: true, position: "bottom", distance: 14, fontSize: 11, color: "#4b5563",
            formatter: function (p) { return p.data.step.status_text || words(p.data.step.status); } } }
      ]
    };
  }

  /* Equity curve (the equity grown by the returns of the weights in force) and its drawdown. */
  function equity(data) {
    if (!data.dates.length) return empty("No realised history yet");
    var currency = data.currency || "";
    return {
      tooltip: { trigger: "axis" },
      grid: [{ left: 96, right: 20, top: 28, height: "52%" }, { left: 96, right: 20, top: "72%", bottom: 24 }],
      xAxis: [{ type: "category", data: data.dates, gridIndex: 0, axisLabel: { show: false } },
              { type: "category", data: data.dates, gridIndex: 1, axisLabel: { fontSize: 10 } }],
      yAxis: [{ type: "value", scale: true, gridIndex: 0, name: "equity, " + currency,
                axisLabel: { formatter: function (v) { return money(v).replace(/\.00$/, ""); } } },
              { type: "value", gridIndex: 1, name: "drawdown, %", axisLabel: { formatter: function (v) { return pct(v, 1); } } }],
      series: [
        { name: "equity", type: "line", showSymbol: false, data: data.equity_curve, xAxisIndex: 0, yAxisIndex: 0, lineStyle: { color: "#2563eb" },
          tooltip: { valueFormatter: function (v) { return money(v, currency); } } },
        { name: "drawdown", type: "line", showSymbol: false, data: data.drawdown, xAxisIndex: 1, yAxisIndex: 1,
          areaStyle: { color: "#fecaca" }, lineStyle: { color: "#dc2626" }, tooltip: { valueFormatter: function (v) { return pct(v); } } }
      ]
    };
  }

  window.CAE = { pct: pct, num: num, money: money, words: words, esc: esc, charts: {
    allocation: allocation, target: target, heatmap: heatmap, trends: trends,
    scatter: scatter, risk: risk, schedule: schedule, equity: equity
  } };
})();
