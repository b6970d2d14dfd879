// Forecast explorer: one store's daily sales, then the served model's forecast with its interval.
// Data: GET /stores, GET /model, GET /forecast (the same endpoints any client can call).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
window.explorer = { ready: false, forecast: null, error: null };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  window.explorer.error = message || null;
}

// A gateway started with a REST token (ROSSMANN_AUTH_TOKEN) serves this page without one but
// answers the data calls with 401: the page then asks for the token, keeps it in this tab's
// sessionStorage (never in the URL) and sends it as a bearer header.
const TOKEN_KEY = "rossmann-explorer-token";

async function getJSON(url) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const resp = await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const body = await resp.json().catch(() => ({ message: resp.statusText }));
  if (resp.status === 401) $("auth").hidden = false;
  // behind a token, /metrics answers 401 to a browser navigation (it cannot carry the header)
  if (token || resp.status === 401) $("metrics-nav").hidden = true;
  if (!resp.ok) throw new Error(`${resp.status}: ${body.message || JSON.stringify(body)}`);
  return body;
}

$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  window.location.reload();
});

function fillList(dl, rows) {
  dl.replaceChildren();
  for (const [dt, dd] of rows) {
    const t = document.createElement("dt"); t.textContent = dt;
    const d = document.createElement("dd"); d.textContent = dd;
    dl.append(t, d);
  }
}

const TYPES = { a: "a", b: "b (open on Sundays)", c: "c", d: "d" };
const ASSORTMENTS = { a: "basic", b: "extra", c: "extended" };

function showStore(s) {
  fillList($("store-info"), [
    ["store", String(s.Store)],
    ["type", TYPES[s.StoreType] || s.StoreType],
    ["assortment", `${s.Assortment} (${ASSORTMENTS[s.Assortment] || "?"})`],
    ["competition", s.CompetitionDistance == null ? "distance unknown"
      : `${Math.round(s.CompetitionDistance).toLocaleString("en")} m` +
        (s.CompetitionOpenSince ? `, open since ${s.CompetitionOpenSince}` : "")],
    ["Promo2", s.Promo2 ? `since ${s.Promo2Since}, months ${s.PromoInterval}` : "no"],
    ["data ends", s.HistoryEnd],
  ]);
}

function fmt(x) { return x == null || Number.isNaN(x) ? "n/a" : Number(x).toFixed(4); }

async function showModel(name) {
  try {
    const info = (await getJSON(`/model?model=${encodeURIComponent(name)}`)).models[0];
    const rows = [["model", info.name], ["version", info.version || "none loaded"],
                  ["status", info.status], ["trained on", `${info.train_start} .. ${info.train_end}`]];
    const bt = info.backtest;  // present once the model carries a rolling-origin backtest
    const btRmspe = bt ? (bt.mean_rmspe ?? bt.rmspe) : null;
    if (btRmspe != null) {
      const folds = (bt.fold_rmspe || bt.fold_origins || []).length;
      rows.push(["backtest RMSPE", fmt(btRmspe) +
        (bt.std_rmspe != null ? ` ± ${fmt(bt.std_rmspe)}` : "") +
        (folds ? ` (${folds} folds${bt.chosen ? `, ${bt.chosen}` : ""})` : "")]);
    } else {
      rows.push(["validation RMSPE", `${fmt(info.metrics.rmspe)} (last 6 weeks; no backtest for this version)`]);
    }
    fillList($("model-info"), rows);
  } catch (e) {
    fillList($("model-info"), [["model", name], ["error", e.message]]);
  }
}

function holidayShapes(days) {
  const shapes = [], notes = [];
  for (const d of days) {
    if (d.StateHoliday !== "0") {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: d.Date, x1: d.Date, y0: 0, y1: 1,
                    line: { color: "#b03060", width: 1, dash: "dot" } });
      notes.push({ x: d.Date, y: 1, yref: "paper", text: d.StateHoliday, showarrow: false,
                   font: { size: 10, color: "#b03060" }, yanchor: "bottom" });
    }
    if (d.SchoolHoliday) {
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: d.Date, x1: d.Date, y0: 0, y1: 0.025,
                    line: { color: "#bbb", width: 3 } });
    }
  }
  return [shapes, notes];
}

async function draw(store, model, historyDays, days) {
  window.explorer.ready = false;
  $("chart").dataset.ready = "0";
  showError("");
  const q = new URLSearchParams({ store, model, days, history_days: historyDays });
  let data;
  try {
    data = await getJSON(`/forecast?${q}`);
  } catch (e) {
    showError(`Cannot forecast: ${e.message}`);
    Plotly.purge($("chart"));
    $("chart").dataset.ready = "error";
    return;
  }
  window.explorer.forecast = data;
  showStore(data.store);
  $("source-info").textContent = data.rows_from_rules === 0
    ? `All ${data.rows_from_test} forecast days come from test.csv.`
    : data.rows_from_test === 0
      ? `test.csv does not cover these days: all ${data.rows_from_rules} forecast days were built from the feature module's calendar rules (holidays, promo weeks) and the store's opening habit.`
      : `${data.rows_from_test} forecast days from test.csv, ${data.rows_from_rules} built from the calendar rules.`;
  const h = data.history, f = data.forecast;
  const level = Math.round(100 * (data.interval_level || 0.8));
  const all = h.concat(f);
  const traces = [
    { name: "history", x: h.map((d) => d.Date), y: h.map((d) => d.Sales), mode: "lines",
      line: { color: "#1f77b4", width: 1.5 } },
    { name: "interval upper", x: f.map((d) => d.Date), y: f.map((d) => d.upper), mode: "lines",
      line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { name: `${level}% interval`, x: f.map((d) => d.Date), y: f.map((d) => d.lower), mode: "lines",
      line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(255,127,14,0.25)" },
    { name: `forecast (${data.model} ${data.version})`, x: f.map((d) => d.Date),
      y: f.map((d) => d.Sales), mode: "lines+markers", marker: { size: 3 },
      line: { color: "#ff7f0e", width: 2 } },
    { name: "closed", x: all.filter((d) => !d.Open).map((d) => d.Date),
      y: all.filter((d) => !d.Open).map(() => 0), mode: "markers",
      marker: { symbol: "x", size: 6, color: "#555" } },
    { name: "promo", x: all.filter((d) => d.Promo).map((d) => d.Date),
      y: all.filter((d) => d.Promo).map((d) => d.Sales), mode: "markers",
      marker: { symbol: "triangle-up", size: 6, color: "#2ca02c" } },
  ];
  const [shapes, annotations] = holidayShapes(all);
  const layout = {
    margin: { t: 30, r: 20, b: 40, l: 60 }, hovermode: "x unified",
    yaxis: { title: "daily sales", rangemode: "tozero" },
    xaxis: { type: "date", rangeslider: { visible: true } },
    legend: { orientation: "h", y: 1.12 }, shapes, annotations,
  };
  await Plotly.newPlot($("chart"), traces, layout, { responsive: true, displaylogo: false });
  window.explorer.ready = true;
  $("chart").dataset.ready = "1";
}

async function main() {
  let stores = [];
  try {
    stores = (await getJSON("/stores")).stores;
  } catch (e) {
    showError(`Cannot list stores: ${e.message}`);
  }
  const dl = $("store-list");
  for (const s of stores) {
    const opt = document.createElement("option");
    opt.value = s.Store;
    opt.label = `type ${s.StoreType}, assortment ${s.Assortment}`;
    dl.append(opt);
  }
  $("store").value = params.get("store") || (stores.length ? stores[0].Store : "");
  $("model").value = params.get("model") || "tree";
  if (params.get("history")) $("history").value = params.get("history");
  if (params.get("days")) $("days").value = params.get("days");
  const run = () => {
    const url = new URL(window.location.href);
    for (const k of ["store", "model", "history", "days"]) url.searchParams.set(k, $(k).value);
    window.history.replaceState(null, "", url);
    showModel($("model").value);
    return draw($("store").value, $("model").value, $("history").value, $("days").value);
  };
  $("controls").addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
  $("model").addEventListener("change", run);
  $("history").addEventListener("change", run);
  if ($("store").value) await run();
}

main();
