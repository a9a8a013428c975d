// The kgqa page: ask, chat, evidence graphs (cytoscape, vendored), a read-only Cypher console, ingestion.
// Talks to the API of the server that serves it; a 401 asks for the bearer token (kept in localStorage).
"use strict";

const $ = (sel) => document.querySelector(sel);
const graphs = {};                 // container id -> cytoscape instance (tests read window.kgqa.graphs)
window.kgqa = { graphs };

// -- API calls ---------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, code, message, hint) { super(message); this.status = status; this.code = code; this.hint = hint; }
}

function authHeaders() {
  const t = localStorage.getItem("kgqa-token");
  return t ? { Authorization: "Bearer " + t } : {};
}

let tokenWaiters = null;
function askForToken() {
  if (!tokenWaiters) {
    tokenWaiters = [];
    const dlg = $("#token-dialog");
    $("#token-input").value = "";
    dlg.showModal();
    dlg.addEventListener("close", () => {
      const v = $("#token-input").value.trim();
      if (v) localStorage.setItem("kgqa-token", v);
      const ws = tokenWaiters; tokenWaiters = null;
      ws.forEach((w) => w(Boolean(v)));
    }, { once: true });
  }
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

async function errorOf(resp) {
  try {
    const e = (await resp.json()).error || {};
    return new ApiError(resp.status, e.code || "error", e.message || resp.statusText, e.hint || "");
  } catch (_) {
    return new ApiError(resp.status, "error", `${resp.status} ${resp.statusText}`, "");
  }
}

async function request(path, opts = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { ...(opts.headers || {}), ...authHeaders() };
    if (opts.json !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, { method: opts.method || (opts.json !== undefined ? "POST" : "GET"), headers,
                                     body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body });
    if (resp.status === 401 && await askForToken()) continue;
    if (!resp.ok) throw await errorOf(resp);
    return resp;
  }
  throw new ApiError(401, "unauthorized", "the server refused the token", "set the right token (top right)");
}

const api = async (path, opts) => {
  const resp = await request(path, opts);
  return resp.status === 204 ? null : resp.json();
};

function showError(el, err) {
  if (!err) { el.hidden = true; el.textContent = ""; return; }
  el.hidden = false;
  el.innerHTML = "";
  el.append(document.createTextNode(err.message || String(err)));
  if (err.hint) { const h = document.createElement("span"); h.className = "hint"; h.textContent = err.hint; el.append(h); }
  el.dataset.code = err.code || "";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// -- graphs -----------------------------------------------------------------------------------
const STYLE = [
  { selector: "node", style: { "background-color": "#8a94a6", label: "data(name)", "font-size": 10, color: "#1d2330",
                               "text-valign": "bottom", "text-margin-y": 3, width: 18, height: 18,
                               "text-wrap": "ellipsis", "text-max-width": 120 } },
  { selector: "node[role = 'topic']", style: { "background-color": "#e07a1f", width: 28, height: 28, "font-weight": 600 } },
  { selector: "node[role = 'answer']", style: { "background-color": "#1f9d55", width: 24, height: 24, "font-weight": 600 } },
  { selector: "node[role = 'focus']", style: { "background-color": "#2f5fd0", width: 26, height: 26 } },
  { selector: "node.expanded", style: { "border-width": 2, "border-color": "#2f5fd0" } },
  { selector: "edge", style: { width: 1.4, "line-color": "#b8c0cc", "target-arrow-color": "#b8c0cc",
                               "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(type)",
                               "font-size": 8, color: "#6b7280", "text-rotation": "autorotate",
                               "text-background-color": "#fff", "text-background-opacity": 0.8 } },
];

function elementsOf(graph) {
  const nodes = graph.nodes.map((n) => ({ group: "nodes", data: { ...n, id: n.id, name: n.name || n.id } }));
  const edges = graph.edges.map((e) => ({ group: "edges", data: { id: e.id || `${e.source}|${e.type}|${e.target}`,
                                                                   source: e.source, target: e.target, type: e.type } }));
  return [...nodes, ...edges];
}

const RING = { topic: 3, focus: 3, node: 2, answer: 1 };

function layout(cy, rings = false) {
  const n = cy.nodes().length;
  if (rings || n > 250) {
    // evidence: the topic in the middle, the nodes on its paths around it, the answers outside
    cy.layout({ name: "concentric", animate: false, padding: 30, minNodeSpacing: 28,
                concentric: (node) => RING[node.data("role")] || 2, levelWidth: () => 1 }).run();
  } else {
    cy.layout({ name: "cose", animate: false, randomize: false, nodeRepulsion: () => 40000,
                idealEdgeLength: () => 60, edgeElasticity: () => 200, gravity: 2, numIter: 1000, fit: true,
                padding: 30 }).run();
  }
}

function drawGraph(containerId, graph, rings = false) {
  if (graphs[containerId]) graphs[containerId].destroy();
  const box = document.getElementById(containerId);
  const cy = cytoscape({ container: box, elements: elementsOf(graph), style: STYLE, minZoom: 0.2, maxZoom: 1.6 });
  graphs[containerId] = cy;
  cy.on("tap", "node", (evt) => expand(containerId, evt.target.id()));
  layout(cy, rings);
  box.dataset.nodes = String(cy.nodes().length);
  return cy;
}

async function expand(containerId, nodeId) {
  const cy = graphs[containerId];
  const box = document.getElementById(containerId);
  box.dataset.expanding = nodeId;
  try {
    const res = await api(`/entities/${encodeURIComponent(nodeId)}/neighbours?limit=30`);
    const fresh = elementsOf(res.graph).filter((e) => cy.getElementById(e.data.id).empty())
      .map((e) => (e.group === "nodes" && e.data.role === "focus" ? { ...e, data: { ...e.data, role: "node" } } : e));
    cy.add(fresh);
    cy.getElementById(nodeId).addClass("expanded");
    layout(cy);
    box.dataset.nodes = String(cy.nodes().length);
    box.dataset.expanded = nodeId;
  } catch (err) {
    box.dataset.expandError = err.message;
  } finally {
    delete box.dataset.expanding;
  }
}

// -- ask --------------------------------------------------------------------------------------
function answersView(res) {
  const wrap = el("div");
  if (res.topics.length) {
    wrap.append(el("p", { class: "topic-line" }, "About ", el("b", { text: res.topics.map((t) => t.name).join(", ") })));
  }
  if (res.note) wrap.append(el("p", { class: "muted note", text: res.note }));
  if (res.kind && res.kind !== "path") {   // a composed answer: the value, what was read, its Cypher
    const value = res.value === true ? "yes" : res.value === false ? "no" : res.value;
    if (value !== null && value !== undefined) {
      wrap.append(el("p", { class: "kind-value", id: "kind-value" }, el("b", { text: `${res.kind}: ` }), String(value)));
    }
    if (res.reading) wrap.append(el("p", { class: "muted", text: `read as: ${res.reading}` }));
    if (res.cypher) wrap.append(el("pre", { class: "cypher", text: res.cypher }));
  }
  const list = el("ul", { class: "answers", id: "answers" });
  for (const a of res.answers) {
    const li = el("li", { class: "answer" }, el("span", { class: "answer-name", text: a.name }),
                  el("span", { class: "score", text: `p=${a.score.toFixed(3)}` }));
    for (const ev of a.evidence) {
      const runIt = el("button", { class: "link", type: "button", text: "run in console" });
      runIt.addEventListener("click", () => openInConsole(ev.cypher, ev.params));
      li.append(el("div", { class: "evidence" }, el("span", { class: "path", text: ev.text }),
                   el("details", {}, el("summary", { text: "Cypher" }), el("code", { text: ev.cypher }), runIt)));
    }
    list.append(li);
  }
  wrap.append(list);
  if (res.more_answers) wrap.append(el("p", { class: "muted", text: `… and ${res.more_answers} more answers` }));
  return wrap;
}

$("#ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = $("#ask-input").value.trim();
  if (!q) return;
  const btn = $("#ask-button");
  btn.disabled = true;
  showError($("#ask-error"), null);
  $("#ask-result").textContent = "thinking…";
  try {
    const res = await api("/ask", { json: { question: q } });
    $("#ask-result").replaceChildren(answersView(res));
    drawGraph("ask-graph", res.graph, true);
  } catch (err) {
    $("#ask-result").textContent = "";
    showError($("#ask-error"), err);
  } finally {
    btn.disabled = false;
  }
});

// -- chat -------------------------------------------------------------------------------------
let session = null;

async function newSession() {
  session = (await api("/chat/sessions", { json: {} })).id;
  $("#chat-log").replaceChildren();
  return session;
}

function chatMessage(who, text) {
  const m = el("div", { class: `msg ${who}` }, el("span", { class: "text", text }));
  $("#chat-log").append(m);
  $("#chat-log").scrollTop = $("#chat-log").scrollHeight;
  return m;
}

async function readEvents(resp, onEvent) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      onEvent(event, data ? JSON.parse(data) : null);
    }
  }
}

async function sendChat(text) {
  if (!session) await newSession();
  chatMessage("user", text);
  const bot = chatMessage("bot", "");
  const out = bot.querySelector(".text");
  let resp;
  try {
    resp = await request(`/chat/sessions/${session}/messages`, { json: { text, stream: true } });
  } catch (err) {
    if (err.code === "no_session") { session = null; bot.remove(); return sendChat(text); }
    throw err;
  }
  await readEvents(resp, (event, data) => {
    if (event === "resolution" && data.how === "reference") {
      bot.prepend(el("span", { class: "about", text: `“${data.expression}” = ${data.topic ? data.topic.name : "?"}` }));
    } else if (event === "answers") {
      if (data.graph.nodes.length) drawGraph("chat-graph", data.graph, true);
    } else if (event === "token") {
      out.textContent += data.text;
    } else if (event === "error") {
      out.textContent += ` [${data.error.message}]`;
    } else if (event === "done") {
      bot.dataset.done = "1";
    }
    $("#chat-log").scrollTop = $("#chat-log").scrollHeight;
  });
}

$("#chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("#chat-input").value.trim();
  if (!text) return;
  $("#chat-input").value = "";
  $("#chat-send").disabled = true;
  showError($("#chat-error"), null);
  try { await sendChat(text); } catch (err) { showError($("#chat-error"), err); } finally { $("#chat-send").disabled = false; }
});
$("#chat-new").addEventListener("click", async () => {
  try { await newSession(); } catch (err) { showError($("#chat-error"), err); }
});

// -- Cypher console ---------------------------------------------------------------------------
let cypherView = "table";
let lastCypher = null;

// a node as (name), a relationship as [:TYPE], a path as (a)-[:T]->(b); the whole value on hover
function shortText(v) {
  if (Array.isArray(v)) return "[" + v.map(shortText).join(", ") + "]";
  if (v && typeof v === "object") {
    if (Array.isArray(v.nodes) && Array.isArray(v.relationships)) {
      let s = shortText(v.nodes[0]);
      v.relationships.forEach((r, i) => {
        const next = v.nodes[i + 1];
        const forward = !r._start || r._start === (v.nodes[i] || {}).id;
        s += forward ? `-[:${r._type}]->${shortText(next)}` : `<-[:${r._type}]-${shortText(next)}`;
      });
      return s;
    }
    if (typeof v.id === "string" && ("_label" in v || "_labels" in v)) return `(${v.name || v.id})`;
    if ("_type" in v) return `[:${v._type}]`;
    return JSON.stringify(v);
  }
  return String(v);
}

function cell(v) {
  if (v === null || v === undefined) return el("td", { class: "muted", text: "null" });
  if (typeof v === "object") return el("td", { title: JSON.stringify(v, null, 1) }, el("code", { text: shortText(v) }));
  return el("td", { text: String(v) });
}

function setView(view) {
  cypherView = view;
  $("#view-table").classList.toggle("active", view === "table");
  $("#view-graph").classList.toggle("active", view === "graph");
  $("#cypher-table").hidden = view !== "table";
  $("#cypher-graph-box").hidden = view !== "graph";
  if (view === "graph" && lastCypher) {
    if (lastCypher.graph) drawGraph("cypher-graph", lastCypher.graph);
    else $("#cypher-info").textContent = "no nodes in these rows: return nodes, relationships or paths to see a graph";
  }
}
$("#view-table").addEventListener("click", () => setView("table"));
$("#view-graph").addEventListener("click", () => setView("graph"));

async function runCypher(params = {}) {
  const query = $("#cypher-input").value;
  $("#cypher-run").disabled = true;
  showError($("#cypher-error"), null);
  $("#cypher-info").textContent = "running…";
  try {
    const res = await api("/cypher", { json: { query, params } });
    lastCypher = res;
    const head = el("tr", {}, ...res.columns.map((c) => el("th", { text: c })));
    const rows = res.rows.map((r) => el("tr", {}, ...r.map(cell)));
    $("#cypher-table").replaceChildren(el("table", { id: "cypher-results" }, el("thead", {}, head), el("tbody", {}, ...rows)));
    $("#cypher-info").textContent = `${res.rows.length} row(s)${res.truncated ? ` (truncated at ${res.limit})` : ""}`;
    setView(res.graph && cypherView === "graph" ? "graph" : cypherView);
  } catch (err) {
    lastCypher = null;
    $("#cypher-table").replaceChildren();
    $("#cypher-info").textContent = "";
    showError($("#cypher-error"), err);
  } finally {
    $("#cypher-run").disabled = false;
  }
}
$("#cypher-form").addEventListener("submit", (e) => { e.preventDefault(); runCypher(); });

function openInConsole(query, params) {
  let q = query;
  for (const [k, v] of Object.entries(params || {})) q = q.split("$" + k).join(JSON.stringify(v).replace(/^"|"$/g, "'"));
  $("#cypher-input").value = q;
  selectTab("cypher");
  setView("graph");
  runCypher();
}

// -- ingestion --------------------------------------------------------------------------------
function upload(form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/ingest");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202) resolve(body);
      else { const e = body.error || {}; reject(new ApiError(xhr.status, e.code, e.message || xhr.statusText, e.hint)); }
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "the upload failed (network)", ""));
    xhr.send(form);
  });
}

$("#ingest-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("#ingest-file").files[0];
  if (!file) return;
  const bar = $("#ingest-progress"), status = $("#ingest-status");
  showError($("#ingest-error"), null);
  $("#ingest-report").hidden = true;
  bar.hidden = false; bar.value = 0;
  $("#ingest-button").disabled = true;
  const form = new FormData();
  form.append("file", file);
  if ($("#ingest-format").value) form.append("format", $("#ingest-format").value);
  form.append("strict", $("#ingest-strict").checked ? "true" : "false");
  try {
    let job;
    for (;;) {
      try {
        job = await upload(form, (f) => { bar.value = 0.3 * f; status.textContent = `uploading ${(100 * f).toFixed(0)}%`; });
        break;
      } catch (err) {
        if (err.status === 401 && await askForToken()) continue;
        throw err;
      }
    }
    while (!["done", "failed"].includes(job.status)) {
      const p = job.progress;
      bar.value = 0.3 + 0.7 * (p.fraction || 0);
      status.textContent = `${job.status}: ${p.records_written.toLocaleString()} records written` +
        (p.records_total ? ` of ~${p.records_total.toLocaleString()}` : "");
      await new Promise((r) => setTimeout(r, 400));
      job = await api(`/ingest/${job.id}`);
    }
    bar.value = 1;
    status.textContent = job.status === "done" ? `done: ${job.filename}` : `failed: ${job.filename}`;
    status.dataset.status = job.status;
    if (job.error) showError($("#ingest-error"), { message: job.error.message, code: job.error.code });
    const lines = [];
    if (job.report) lines.push(job.report.summary || JSON.stringify(job.report, null, 2));
    if (job.refresh) lines.push(`model: ${job.refresh.message}`);
    if (lines.length) { $("#ingest-report").textContent = lines.join("\n"); $("#ingest-report").hidden = false; }
  } catch (err) {
    showError($("#ingest-error"), err);
    status.textContent = "";
    bar.hidden = true;
  } finally {
    $("#ingest-button").disabled = false;
  }
});

// -- tabs and status --------------------------------------------------------------------------
function selectTab(name) {
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === `panel-${name}`));
  Object.values(graphs).forEach((cy) => cy.resize());
}
document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
$("#token-button").addEventListener("click", () => askForToken());

(async () => {
  try {
    const h = await api("/health");
    $("#status").textContent = `${h.store} store · ${h.model ? "model loaded" : "no model"}${h.auth ? " · token" : ""}`;
  } catch (err) {
    $("#status").textContent = `server: ${err.message}`;
  }
})();
