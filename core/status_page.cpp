// The status page: one static document whose script fetches /status.json every two seconds and
// redraws in place. Every value from the server is set as text (textContent, SVG text nodes),
// never parsed as markup: versions are paths and failure reasons are an app's words.
#include "core/status.hpp"

namespace zyg {

const std::string_view kStatusPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zygote status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
.summary { display: flex; flex-wrap: wrap; gap: .6em 2em; }
.summary div span { color: #666; margin-right: .4em; }
.legend { color: #555; font-size: .9em; margin: .2em 0; }
.badge { display: inline-block; padding: 0 .5em; border-radius: 3px; color: #fff; }
.ok { background: #2a7d2a; } .bad { background: #b3261e; } .warn { background: #a66d00; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: .2em .7em; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .95em; }
#budget { width: 20em; height: .8em; background: #e4e4e4; display: inline-block; vertical-align: middle; }
#budget div { height: 100%; background: #4a6fa5; }
#stale { color: #b3261e; }
svg text { font: 11px system-ui, sans-serif; }
</style>
</head>
<body>
<h1>zygote <span id="ready" class="badge"></span></h1>
<div class="summary">
  <div><span>serving</span><code id="serving"></code></div>
  <div><span>loading</span><code id="loading"></code></div>
  <div><span>phase</span><b id="phase"></b></div>
  <div><span>budget</span><span id="budget"><div></div></span> <b id="budget-text"></b></div>
  <div><span>requests</span><b id="requests"></b></div>
  <div><span>master</span><b id="master"></b></div>
  <div><span>updated</span><b id="updated"></b> <b id="stale"></b></div>
</div>
<h2>Processes</h2>
<table id="processes">
<thead><tr><th>role</th><th>pid</th><th>version</th><th>state</th><th>for</th><th>served</th>
<th>request</th><th>RSS</th><th>PSS</th><th>USS</th><th>note</th></tr></thead>
<tbody></tbody>
</table>
<h2>Deploys</h2>
<svg id="timeline" width="900" height="60" role="img" aria-label="deploy timeline"></svg>
<p class="legend"><span style="color:#4a6fa5">&#9679;</span> loaded, rollout
<span style="color:#2a7d2a">&#9679;</span> proven <span style="color:#a66d00">&#9679;</span>
superseded <span style="color:#b3261e">&#9679;</span> failed to load, rolled back
<span style="color:#777">&#9679;</span> stopped; the bar of the serving release is blue</p>
<h2>Failures</h2>
<ul id="failures"></ul>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const mib = (b) => (b === null || b === undefined) ? "" : (b / 1048576).toFixed(1) + " MiB";
const secs = (s) => s === null || s === undefined ? "" :
  s < 60 ? s.toFixed(1) + " s" : s < 3600 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h";
const short = (v) => { const i = v.lastIndexOf("/"); return i >= 0 && i < v.length - 1 ? v.slice(i + 1) : v; };

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function processRow(tbody, p) {
  const row = tbody.insertRow();
  row.dataset.role = p.role;
  row.dataset.pid = p.pid;
  cell(row, p.role);
  cell(row, p.pid || "", "n");
  cell(row, short(p.version)).title = p.version;
  cell(row, p.state);
  cell(row, secs(p.state_for_s), "n");
  cell(row, p.served === undefined ? "" : p.served, "n");
  cell(row, secs(p.request_for_s), "n");
  const m = p.memory || {};
  cell(row, mib(m.rss), "n"); cell(row, mib(m.pss), "n"); cell(row, mib(m.uss), "n");
  cell(row, [p.app, p.stop ? "stopping: " + p.stop : "", p.kill_sent ? "killed" : ""]
    .filter(Boolean).join("; "));
}

function drawProcesses(s) {
  const tbody = $("processes").tBodies[0];
  tbody.replaceChildren();
  processRow(tbody, { role: "master", pid: s.master.pid, version: "", state: "running",
    state_for_s: s.master.uptime_s, memory: s.master.memory });
  if (s.front.pid) {
    processRow(tbody, { role: "front", pid: s.front.pid, version: "", state: s.front.stopping ? "stopping" : "running",
      memory: s.front.memory, app: s.front.connections + " connections, " + s.front.waiting + " waiting" });
  }
  for (const p of s.processes) processRow(tbody, p);
}

const NS = "http://www.w3.org/2000/svg";
function svg(parent, tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e);
  return e;
}
const FAILS = { superseded: "#a66d00", rollback: "#b3261e", "load-failed": "#b3261e" };
const ENDS = Object.assign({ stopped: "#777" }, FAILS);
const MARKS = { loaded: "#4a6fa5", proven: "#2a7d2a", resident: "#2a7d2a", rollout: "#4a6fa5" };

// One lane per version: a bar from its start or deploy until it ended (or now), marks for steps.
function drawTimeline(s) {
  const el = $("timeline");
  el.replaceChildren();
  const lanes = new Map();
  for (const m of s.timeline) {
    if (!lanes.has(m.version)) lanes.set(m.version, { from: m.ago_s, to: 0, marks: [], end: null });
    const lane = lanes.get(m.version);
    if (m.what === "start" || m.what === "deploy") { lane.from = Math.max(lane.from, m.ago_s); lane.to = 0; lane.end = null; }
    if (ENDS[m.what] && !FAILS[lane.end]) { lane.to = m.ago_s; lane.end = m.what; }
    lane.marks.push(m);
  }
  const span = Math.max(10, ...Array.from(lanes.values(), (l) => l.from)) * 1.05;
  const left = 170, width = 900 - left - 20, laneH = 22;
  const x = (ago) => left + width * (1 - ago / span);
  el.setAttribute("height", String(30 + laneH * Math.max(1, lanes.size)));
  svg(el, "text", { x: left, y: 12 }, "-" + secs(span));
  svg(el, "text", { x: left + width - 20, y: 12 }, "now");
  let y = 22;
  for (const [version, lane] of lanes) {
    const g = svg(el, "g", { class: "lane" });
    g.dataset.version = version;
    svg(g, "text", { x: 0, y: y + 12 }, short(version));
    svg(g, "rect", { x: x(lane.from), y: y + 3, height: 12, rx: 2,
      width: Math.max(2, x(lane.to) - x(lane.from)),
      fill: version === s.serving ? "#9db5d8" : (FAILS[lane.end] ? "#e0c9c7" : "#ccc") });
    for (const m of lane.marks) {
      const color = ENDS[m.what] || MARKS[m.what] || "#555";
      svg(g, "circle", { cx: x(m.ago_s), cy: y + 9, r: 4, fill: color, class: "mark " + m.what })
        .appendChild(document.createElementNS(NS, "title")).textContent = m.what + ", " + secs(m.ago_s) + " ago";
    }
    y += laneH;
  }
}

function draw(s) {
  const ready = $("ready");
  ready.textContent = s.shutting_down ? "stopping" : s.ready ? "ready" : "not ready";
  ready.className = "badge " + (s.ready ? "ok" : s.shutting_down ? "warn" : "bad");
  $("serving").textContent = s.serving + (s.serving_proven ? " (proven)" : " (on probation)");
  $("loading").textContent = s.loading || "none";
  $("phase").textContent = s.phase;
  $("budget").firstElementChild.style.width = (100 * s.workers.total / Math.max(1, s.budget)) + "%";
  $("budget-text").textContent = s.workers.total + " of " + s.budget + " slots (" + s.desired + " wanted)";
  const c = s.requests.by_class;
  $("requests").textContent = s.requests.count + " (5xx: " + c["5xx"] + ", 4xx: " + c["4xx"] + ")";
  $("master").textContent = "pid " + s.master.pid + ", up " + secs(s.master.uptime_s) + ", listening on " + s.listen;
  drawProcesses(s);
  drawTimeline(s);
  const ul = $("failures");
  ul.replaceChildren();
  for (const f of s.failures) {
    const li = document.createElement("li");
    li.textContent = "#" + f.serial + " " + f.version + ": " + f.reason;
    ul.appendChild(li);
  }
  if (!s.failures.length) ul.appendChild(document.createElement("li")).textContent = "none";
}

async function refresh() {
  try {
    const r = await fetch("status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    draw(await r.json());
    $("updated").textContent = new Date().toLocaleTimeString();
    $("stale").textContent = "";
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("stale").textContent = "(cannot reach the server: " + e.message + ")";
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace zyg
