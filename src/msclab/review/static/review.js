"use strict";
// msclab gate review page: plain JS + SVG, talks only to its own server.
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const state = { panel: null, cards: [], current: null, edit: null };
const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";

async function api(path, body) {
  const opts = { headers: { "X-Review-Token": TOKEN } };
  if (body) { opts.method = "POST"; opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function level(c) {
  if (c.confidence === null || c.confidence === undefined) return "none";
  return c.confidence >= 0.8 ? "high" : c.confidence >= 0.5 ? "mid" : "low";
}

function densityImage(card, w, h) {
  // log-scaled counts, white -> dark blue; 1-D gates as a histogram outline
  const cv = document.createElement("canvas"); cv.width = w; cv.height = h;
  const g = cv.getContext("2d"); g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
  const d = card.density, ny = d.length, nx = d[0].length;
  let max = 1; d.forEach(r => r.forEach(v => { if (v > max) max = v; }));
  if (ny === 1) {
    g.fillStyle = "#5c6bc0";
    d[0].forEach((v, i) => { const bh = h * Math.log1p(v) / Math.log1p(max); g.fillRect(i * w / nx, h - bh, w / nx + .5, bh); });
  } else {
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const v = d[j][i]; if (!v) continue;
      const t = Math.log1p(v) / Math.log1p(max);
      g.fillStyle = `rgb(${Math.round(230 - 210 * t)},${Math.round(235 - 180 * t)},${Math.round(255 - 100 * t)})`;
      g.fillRect(i * w / nx, h - (j + 1) * h / ny, w / nx + .5, h / ny + .5);
    }
  }
  return cv;
}

function scales(card, x0, y0, w, h) {
  const ax = card.axes[0], ay = card.axes[1];
  const sx = (v) => x0 + (v - ax.min) / (ax.max - ax.min) * w;
  const sy = ay ? (v) => y0 + h - (v - ay.min) / (ay.max - ay.min) * h : () => y0 + h / 2;
  const ix = (p) => ax.min + (p - x0) / w * (ax.max - ax.min);
  const iy = ay ? (p) => ay.min + (y0 + h - p) / h * (ay.max - ay.min) : () => null;
  return { sx, sy, ix, iy, x0, y0, w, h };
}

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function rectBox(shape, s) {
  const b = shape.bounds;
  const x1 = b[0][0] === null ? s.x0 : s.sx(b[0][0]), x2 = b[0][1] === null ? s.x0 + s.w : s.sx(b[0][1]);
  let y1 = s.y0, y2 = s.y0 + s.h;
  if (b.length > 1) { y1 = b[1][1] === null ? s.y0 : s.sy(b[1][1]); y2 = b[1][0] === null ? s.y0 + s.h : s.sy(b[1][0]); }
  return [Math.max(s.x0, Math.min(x1, x2)), Math.max(s.y0, Math.min(y1, y2)),
          Math.min(s.x0 + s.w, Math.max(x1, x2)), Math.min(s.y0 + s.h, Math.max(y1, y2))];
}

function drawGate(svg, shape, s) {
  if (shape.type === "rectangle" || shape.type === "quadrant") {
    const [a, b, c, d] = rectBox(shape, s);
    el("rect", { class: "gate", x: a, y: b, width: Math.max(0, c - a), height: Math.max(0, d - b) }, svg);
  } else if (shape.type === "polygon") {
    el("polygon", { class: "gate", points: shape.vertices.map(v => `${s.sx(v[0])},${s.sy(v[1])}`).join(" ") }, svg);
  } else if (shape.type === "ellipse") {
    const pts = [], [[a, b], [, c]] = shape.covariance, r = Math.sqrt(shape.distance_square);
    const l1 = (a + c) / 2 + Math.sqrt(((a - c) / 2) ** 2 + b * b), l2 = (a + c) / 2 - Math.sqrt(((a - c) / 2) ** 2 + b * b);
    const th = Math.atan2(l1 - a, b || 1e-12);
    for (let k = 0; k <= 64; k++) {
      const t = 2 * Math.PI * k / 64, u = r * Math.sqrt(l1) * Math.cos(t), v = r * Math.sqrt(Math.max(l2, 0)) * Math.sin(t);
      pts.push(`${s.sx(shape.mean[0] + u * Math.cos(th) - v * Math.sin(th))},${s.sy(shape.mean[1] + u * Math.sin(th) + v * Math.cos(th))}`);
    }
    el("polygon", { class: "gate", points: pts.join(" ") }, svg);
  }
}

function pct(c) { return c.pct_parent === null ? "n/a" : c.pct_parent.toFixed(1) + "%"; }

function render() {
  const grid = $("grid"); grid.innerHTML = "";
  const gate = $("gate").value, sort = $("sort").value;
  let cards = state.cards.filter(c => !gate || c.gate === gate);
  const conf = (c) => c.confidence === null ? Infinity : c.confidence;
  if (sort === "confidence") cards.sort((a, b) => conf(a) - conf(b));
  else if (sort === "distance") cards.sort((a, b) => (b.median_distance || 0) - (a.median_distance || 0));
  else cards.sort((a, b) => a.sample_id.localeCompare(b.sample_id));
  for (const c of cards) {
    const div = document.createElement("div");
    div.className = "card " + level(c);
    div.dataset.sample = c.sample_id; div.dataset.gate = c.gate;
    div.title = `${c.sample_id} ${c.path}\n${pct(c)} of parent (${c.count}/${c.parent_count})` +
      (c.confidence !== null ? `\nconfidence ${c.confidence.toFixed(2)}${c.flag ? ` (${c.flag})` : ""}: ${c.reason}` : "") +
      (c.median_distance !== null && c.median_distance !== undefined ? `\n${c.median_distance.toFixed(1)} pp from group median` : "");
    div.innerHTML = `<div class="t">${esc(c.sample_id)}</div><div class="t">${esc(c.name)} ${pct(c)}</div><div class="plot"></div>`;
    const plot = div.querySelector(".plot");
    plot.appendChild(densityImage(c, 156, 156));
    const svg = el("svg", { width: 156, height: 156 }, plot);
    drawGate(svg, c, scales(c, 0, 0, 156, 156));
    if (c.override) { const b = document.createElement("b"); b.className = "ovr"; b.textContent = "override"; plot.appendChild(b); }
    div.addEventListener("click", () => open(c));
    grid.appendChild(div);
  }
}

function esc(t) { const d = document.createElement("span"); d.textContent = t; return d.innerHTML; }

function axes(svg, card, s) {
  const g = el("g", { class: "axis" }, svg);
  el("line", { x1: s.x0, y1: s.y0 + s.h, x2: s.x0 + s.w, y2: s.y0 + s.h }, g);
  el("line", { x1: s.x0, y1: s.y0, x2: s.x0, y2: s.y0 + s.h }, g);
  for (const [p, lab] of card.axes[0].ticks) {
    const x = s.sx(p); el("line", { x1: x, y1: s.y0 + s.h, x2: x, y2: s.y0 + s.h + 5 }, g);
    el("text", { x, y: s.y0 + s.h + 17, "text-anchor": "middle" }, g).textContent = lab;
  }
  el("text", { x: s.x0 + s.w / 2, y: s.y0 + s.h + 35, "text-anchor": "middle" }, g).textContent = card.axes[0].label;
  if (card.axes[1]) {
    for (const [p, lab] of card.axes[1].ticks) {
      const y = s.sy(p); el("line", { x1: s.x0 - 5, y1: y, x2: s.x0, y2: y }, g);
      el("text", { x: s.x0 - 7, y: y + 4, "text-anchor": "end" }, g).textContent = lab;
    }
    el("text", { x: 12, y: s.y0 + s.h / 2, transform: `rotate(-90 12 ${s.y0 + s.h / 2})`, "text-anchor": "middle" }, g).textContent = card.axes[1].label;
  } else {
    el("text", { x: 12, y: s.y0 + s.h / 2, transform: `rotate(-90 12 ${s.y0 + s.h / 2})`, "text-anchor": "middle" }, g).textContent = "events (log)";
  }
}

function open(card) {
  state.current = card;
  state.edit = JSON.parse(JSON.stringify({ type: card.type, bounds: card.bounds, vertices: card.vertices }));
  $("m-title").textContent = `${card.sample_id} - ${card.path}` + (card.override ? " (override)" : "");
  $("m-info").textContent = `${pct(card)} of parent (${card.count} of ${card.parent_count} events)` +
    (card.confidence !== null ? `; confidence ${card.confidence.toFixed(2)}${card.flag ? ` (${card.flag})` : ""}: ${card.reason}` : "") +
    (card.editable ? "" : "; this gate type is shown only (not editable)");
  $("m-save").disabled = !card.editable;
  const others = state.cards.filter(c => c.gate === card.gate && c.sample_id !== card.sample_id);
  $("m-targets").innerHTML = others.map(c => `<label><input type="checkbox" value="${esc(c.sample_id)}"> ${esc(c.sample_id)}</label><br>`).join("");
  $("m-apply").hidden = !card.editable;
  $("modal").hidden = false;
  drawEditor();
}

function drawEditor() {
  const card = state.current, svg = $("m-plot"); svg.innerHTML = "";
  const s = scales(card, 60, 10, 480, 440);
  const img = densityImage(card, 480, 440);
  el("image", { x: 60, y: 10, width: 480, height: 440, href: img.toDataURL() }, svg);
  axes(svg, card, s);
  const shape = Object.assign({}, card, state.edit);
  drawGate(svg, shape, s);
  if (!card.editable) return;
  if (shape.type === "rectangle") {
    const [a, b, c, d] = rectBox(shape, s);
    const edges = [[0, 0, a, "x"], [0, 1, c, "x"]];
    if (shape.bounds.length > 1) edges.push([1, 1, b, "y"], [1, 0, d, "y"]);
    for (const [dim, side, pos, ax] of edges) {
      const line = ax === "x" ? el("line", { class: "edge", x1: pos, x2: pos, y1: b, y2: d }, svg)
                              : el("line", { class: "edge y", x1: a, x2: c, y1: pos, y2: pos }, svg);
      line.dataset.edge = `${dim}-${side}`;
      drag(line, (px, py) => {
        const v = ax === "x" ? s.ix(px) : s.iy(py);
        state.edit.bounds[dim][side] = v;
      });
    }
  } else if (shape.type === "polygon") {
    shape.vertices.forEach((v, k) => {
      const h = el("circle", { class: "handle", cx: s.sx(v[0]), cy: s.sy(v[1]), r: 6 }, svg);
      h.dataset.vertex = k;
      drag(h, (px, py) => { state.edit.vertices[k] = [s.ix(px), s.iy(py)]; });
    });
  }
}

function drag(node, move) {
  node.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    const svg = $("m-plot");
    const onMove = (ev) => {
      const r = svg.getBoundingClientRect();
      move(ev.clientX - r.left, ev.clientY - r.top);
      redrawGateOnly();
    };
    const onUp = () => { window.removeEventListener("pointermove", onMove); window.removeEventListener("pointerup", onUp); drawEditor(); };
    window.addEventListener("pointermove", onMove);
    window.addEventListener("pointerup", onUp);
  });
}

function redrawGateOnly() {
  const svg = $("m-plot"), s = scales(state.current, 60, 10, 480, 440);
  svg.querySelectorAll(".gate").forEach(n => n.remove());
  drawGate(svg, Object.assign({}, state.current, state.edit), s);
}

async function save(samples) {
  const card = state.current;
  const shape = card.type === "polygon" ? { type: "polygon", vertices: state.edit.vertices }
                                        : { type: "rectangle", bounds: state.edit.bounds };
  try {
    const r = await api("/api/save", { panel: state.panel, gate: card.gate, sample_ids: samples, shape });
    $("modal").hidden = true;
    await loadPanel();
    $("status").textContent = `Saved ${r.written.length} override(s): ${r.written.join(", ")}. ` + $("status").textContent;
  } catch (e) { $("status").textContent = "Not saved: " + e.message; }
}

async function loadPanel() {
  $("status").textContent = "Loading " + state.panel + " ...";
  const data = await api("/api/panel?name=" + encodeURIComponent(state.panel));
  state.cards = data.cards;
  const gates = [...new Set(data.cards.map(c => c.gate))];
  const sel = $("gate"), keep = sel.value;
  sel.innerHTML = '<option value="">all gates</option>' + gates.map(g => `<option>${esc(g)}</option>`).join("");
  sel.value = gates.includes(keep) ? keep : "";
  render();
  const n = new Set(data.cards.filter(c => c.override).map(c => c.sample_id)).size;
  $("status").textContent = `${state.panel}: ${new Set(data.cards.map(c => c.sample_id)).size} samples, ${gates.length} gates, ${n} sample(s) with an override.`;
}

async function init() {
  const info = await api("/api/panels");
  if (!info.gate_qc) {
    $("note").hidden = false;
    $("note").textContent = "No gate_qc.csv in this output folder: gate confidence is not available, so every card is grey and sorting by confidence keeps the sample order.";
  }
  $("panel").innerHTML = info.panels.map(p => `<option>${esc(p)}</option>`).join("");
  state.panel = info.panels[0];
  $("panel").addEventListener("change", () => { state.panel = $("panel").value; loadPanel(); });
  $("gate").addEventListener("change", render);
  $("sort").addEventListener("change", render);
  $("m-close").addEventListener("click", () => { $("modal").hidden = true; });
  $("m-save").addEventListener("click", () => save([state.current.sample_id]));
  $("m-apply-save").addEventListener("click", () => {
    const picked = [...$("m-targets").querySelectorAll("input:checked")].map(i => i.value);
    save([state.current.sample_id, ...picked]);
  });
  await loadPanel();
}

init().catch(e => { $("status").textContent = "Error: " + e.message; });
