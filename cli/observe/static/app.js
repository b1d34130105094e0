// The page of `velocity-flow run|deploy --http`: polls /api/v1 every second and decorates the
// DAG Graphviz drew (the same DOT text as `velocity-flow graph`). No framework, no build step.
"use strict";

const API = "/api/v1";
const HISTORY = 60;          // samples kept per counter: the sparklines' last minute
const SVG_NS = "http://www.w3.org/2000/svg";
const state = { nodes: [], history: {}, last: null, rates: {}, started: null };

const $ = (id) => document.getElementById(id);
const fmt = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: n < 10 ? 1 : 0 });

function el(tag, attrs = {}, text = null) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok && response.status !== 503) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function points(values, width, height) {
  const top = Math.max(1, ...values);
  const step = values.length > 1 ? width / (HISTORY - 1) : 0;
  const offset = width - step * (values.length - 1);
  return values.map((v, i) => `${(offset + i * step).toFixed(1)},${(height - 1 - (v / top) * (height - 2)).toFixed(1)}`).join(" ");
}

function sparkline(values, width = 120, height = 22) {
  const svg = el("svg:svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
  svg.appendChild(el("svg:line", { x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, class: "base" }));
  svg.appendChild(el("svg:polyline", { points: points(values.length ? values : [0], width, height) }));
  return svg;
}

async function loadGraph() {
  const [topology, response] = await Promise.all([getJSON(`${API}/topology`), fetch(`${API}/graph.svg`)]);
  state.nodes = topology.nodes;
  $("name").textContent = topology.topology;
  document.title = `${topology.topology} · velocity-flow`;
  $("layout").textContent = topology.layout === "fallback" ? "(Graphviz not installed: plain layout)" : "";
  const doc = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  $("dag").replaceChildren(svg);
  const byId = Object.fromEntries(topology.nodes.map((n) => [n.id, n]));
  for (const group of svg.querySelectorAll("g.node")) {
    const node = byId[group.querySelector("title")?.textContent];
    if (!node) continue;
    group.classList.add(node.kind);
    group.setAttribute("data-step", node.counters);
    const box = group.getBBox();
    const overlay = el("svg:g", { class: "vf-overlay" });
    const label = el("svg:text", { class: "vf-rate", x: box.x + box.width / 2, y: box.y + box.height + 11, "text-anchor": "middle" });
    const spark = el("svg:polyline", { class: "vf-spark" });
    spark.dataset.x = box.x; spark.dataset.y = box.y + box.height + 14; spark.dataset.w = box.width;
    overlay.append(label, spark);
    group.appendChild(overlay);
    node.group = group; node.label = label; node.spark = spark;
  }
  // room below the lowest node for its rate and sparkline: the viewBox grows, the layout does not change
  const box = (svg.getAttribute("viewBox") || "").split(/[ ,]+/).map(Number);
  if (box.length === 4 && box.every(Number.isFinite)) {
    svg.setAttribute("viewBox", `${box[0]} ${box[1]} ${box[2]} ${box[3] + 26}`);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
  }
}

function updateRates(status) {
  const now = performance.now();
  const steps = status.steps || {};
  for (const [name, counters] of Object.entries(steps)) {
    const before = state.last && state.last.steps[name];
    const seconds = state.last ? (now - state.last.time) / 1000 : 0;
    const rate = before && seconds > 0 ? Math.max(0, (counters.in - before.in) / seconds) : 0;
    if (state.last) {
      state.rates[name] = rate;
      (state.history[name] = state.history[name] || []).push(rate);
      if (state.history[name].length > HISTORY) state.history[name].shift();
    }
  }
  state.last = { time: now, steps };
}

function drawNodes(status) {
  for (const node of state.nodes) {
    if (!node.group) continue;
    const counters = (status.steps || {})[node.counters] || { in: 0, out: 0, dead: 0 };
    const rate = state.rates[node.counters] || 0;
    node.group.setAttribute("data-rate", rate.toFixed(1));
    node.group.setAttribute("data-dead", counters.dead);
    node.group.classList.toggle("has-dead", counters.dead > 0);
    node.label.replaceChildren(el("svg:tspan", {}, `${fmt(rate)}/s`));
    if (counters.dead > 0) node.label.appendChild(el("svg:tspan", { class: "vf-dead" }, `  ${fmt(counters.dead)} dead`));
    const s = node.spark.dataset;
    const values = state.history[node.counters] || [0];
    const pts = points(values, Number(s.w), 10).split(" ").map((p) => {
      const [x, y] = p.split(",").map(Number);
      return `${(x + Number(s.x)).toFixed(1)},${(y + Number(s.y)).toFixed(1)}`;
    });
    node.spark.setAttribute("points", pts.join(" "));
  }
}

function drawSteps(status) {
  const rows = Object.entries(status.steps || {}).map(([name, c]) => {
    const tr = el("tr");
    tr.append(el("td", {}, name), el("td", { class: "num" }, fmt(c.in)), el("td", { class: "num" }, fmt(c.out)),
      el("td", { class: c.dead ? "num bad" : "num" }, fmt(c.dead)), el("td", { class: "num" }, fmt(state.rates[name] || 0)));
    const spark = el("td");
    spark.appendChild(sparkline(state.history[name] || []));
    tr.appendChild(spark);
    return tr;
  });
  $("steps").tBodies[0].replaceChildren(...rows);
}

function keyValues(target, entries) {
  target.replaceChildren();
  for (const [title, pairs] of entries) {
    target.appendChild(el("div", { class: "title" }, title));
    for (const [k, v, cls] of pairs) target.append(el("div", { class: "k" }, k), el("div", cls ? { class: cls } : {}, v));
  }
}

function ago(iso) {
  if (!iso) return "–";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return seconds < 90 ? `${seconds.toFixed(0)} s ago` : new Date(iso).toLocaleTimeString();
}

function drawConnectors(status) {
  const connectors = status.connectors || {};
  const sources = [], sinks = [];
  for (const [name, g] of Object.entries(connectors)) {
    const brokers = g.brokers ? [["brokers", g.brokers, g.brokers === "up" ? "up" : "down"]] : [];
    if (name.startsWith("sink:")) {
      const c = (status.steps || {})[name] || { out: 0 };
      sinks.push([name.slice(5), [["delivered", fmt(c.out)], ["queued", fmt(g.queued || 0)], ["last delivery", ago(g.last_delivery)], ...brokers]]);
    } else {
      const parts = Object.entries(g.lag_per_partition || {}).map(([p, lag]) => [`lag ${p}`, fmt(lag), lag > 0 ? "down" : ""]);
      sources.push([name, [["lag", fmt(g.lag || 0)], ...parts, ["last event", ago(g.last_event)], ...brokers]]);
    }
  }
  for (const [name, c] of Object.entries(status.steps || {})) {
    if (name.startsWith("sink:") && !(name in connectors)) sinks.push([name.slice(5), [["delivered", fmt(c.out)]]]);
  }
  if (sources.length) keyValues($("sources"), sources);
  keyValues($("sinks"), sinks);
}

function drawDeadLetters(dead) {
  const rows = dead.recent.slice(0, 10).map((d) => {
    const tr = el("tr");
    tr.append(el("td", {}, new Date(d.time).toLocaleTimeString()), el("td", {}, d.step), el("td", { class: "error", title: d.error }, d.error),
      el("td", {}, d.origin || "–"), el("td", { class: "event", title: d.event }, d.event));
    return tr;
  });
  $("dead").tBodies[0].replaceChildren(...rows);
  $("no-dead").hidden = rows.length > 0;
  $("dead-by-step").textContent = Object.entries(dead.by_step).map(([s, n]) => `${s}: ${fmt(n)}`).join(" · ");
  $("dead-total").textContent = fmt(dead.total);
}

function drawHeader(status) {
  const pill = $("state");
  pill.textContent = status.state;
  pill.className = `pill ${status.state}`;
  const sources = state.nodes.filter((n) => n.kind === "source").map((n) => n.counters);
  $("rate-total").textContent = fmt(sources.reduce((sum, s) => sum + (state.rates[s] || 0), 0));
  const started = status.process ? status.process.started : (status.processes || [{}])[0].started;
  if (started) $("uptime").textContent = `${Math.round(Date.now() / 1000 - started)} s`;
  $("updated").textContent = `updated ${status.updated}`;
}

async function refresh() {
  try {
    const [status, dead] = await Promise.all([getJSON(`${API}/status`), getJSON(`${API}/dead-letters?limit=10`)]);
    updateRates(status);
    drawHeader(status);
    drawNodes(status);
    drawSteps(status);
    drawConnectors(status);
    drawDeadLetters(dead);
  } catch (error) {
    const pill = $("state");
    pill.textContent = "unreachable";
    pill.className = "pill unreachable";
  }
}

async function start() {
  try {
    await loadGraph();
  } catch (error) {
    $("dag").textContent = "the DAG could not be loaded";
  }
  await refresh();
  setInterval(refresh, 1000);
}

start();
