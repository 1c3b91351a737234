// localStorage can be unavailable (sandboxed frames, privacy modes): fall back to memory.
const store = (() => {
  try { const s = window.localStorage; s.setItem("storage-probe", "1"); s.removeItem("storage-probe"); return s; }
  catch (e) { const m = {}; return { getItem: (k) => (k in m ? m[k] : null), setItem: (k, v) => { m[k] = String(v); } }; }
})();
const W = 32, H = 32, PX = 16, KEY = "pixel-studio.v1";
const PALETTE = ["#000000", "#ffffff", "#7f7f7f", "#c3c3c3", "#880015", "#ed1c24", "#ff7f27", "#fff200",
  "#22b14c", "#b5e61d", "#00a2e8", "#99d9ea", "#3f48cc", "#7092be", "#a349a4", "#c8bfe7", "#b97a57", "#ffaec9"];
const canvas = document.getElementById("canvas"), ctx = canvas.getContext("2d");
const $ = (id) => document.getElementById(id);
const blank = () => Array(W * H).fill(null);
let state = JSON.parse(store.getItem(KEY) || "null") || { layers: [{ name: "Background", visible: true, pixels: blank() }], active: 0 };
let tool = "pencil", color = "#000000", showGrid = true, drawing = false, undoStack = [];
const layer = () => state.layers[state.active];
const save = () => store.setItem(KEY, JSON.stringify(state));

function pushUndo() {
  undoStack.push(JSON.stringify(state));
  if (undoStack.length > 50) undoStack.shift();
}
function undo() {
  if (!undoStack.length) return;
  state = JSON.parse(undoStack.pop());
  save(); renderAll();
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const l of state.layers) { // index 0 is the bottom layer
    if (!l.visible) continue;
    l.pixels.forEach((c, i) => { if (c) { ctx.fillStyle = c; ctx.fillRect((i % W) * PX, Math.floor(i / W) * PX, PX, PX); } });
  }
  if (showGrid) {
    ctx.strokeStyle = "rgba(0,0,0,.12)"; ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 1; i < W; i++) { ctx.moveTo(i * PX + 0.5, 0); ctx.lineTo(i * PX + 0.5, H * PX); }
    for (let j = 1; j < H; j++) { ctx.moveTo(0, j * PX + 0.5); ctx.lineTo(W * PX, j * PX + 0.5); }
    ctx.stroke();
  }
}

function flood(x, y, to) {
  const px = layer().pixels, from = px[y * W + x];
  if (from === to) return;
  const stack = [[x, y]];
  while (stack.length) {
    const [cx, cy] = stack.pop();
    if (cx < 0 || cy < 0 || cx >= W || cy >= H || px[cy * W + cx] !== from) continue;
    px[cy * W + cx] = to;
    stack.push([cx + 1, cy], [cx - 1, cy], [cx, cy + 1], [cx, cy - 1]);
  }
}

function cellAt(e) {
  const r = canvas.getBoundingClientRect();
  const x = Math.floor(((e.clientX - r.left) / r.width) * W), y = Math.floor(((e.clientY - r.top) / r.height) * H);
  return x >= 0 && y >= 0 && x < W && y < H ? [x, y] : null;
}

let last = null; // previous cell of the current stroke, to fill gaps between pointer events
function apply(e) {
  const cell = cellAt(e);
  if (!cell) return;
  const [x, y] = cell, i = y * W + x;
  if (tool === "pencil" || tool === "eraser") {
    const [x0, y0] = last || cell, steps = Math.max(Math.abs(x - x0), Math.abs(y - y0), 1);
    for (let k = 0; k <= steps; k++) {
      const px = Math.round(x0 + ((x - x0) * k) / steps), py = Math.round(y0 + ((y - y0) * k) / steps);
      layer().pixels[py * W + px] = tool === "pencil" ? color : null;
    }
    last = cell;
  }
  else if (tool === "fill") flood(x, y, color);
  else if (tool === "picker") {
    const top = [...state.layers].reverse().find((l) => l.visible && l.pixels[i]);
    if (top) { color = top.pixels[i]; setTool("pencil"); renderPalette(); }
  }
  draw();
}

canvas.onpointerdown = (e) => {
  if (!layer().visible && tool !== "picker") return alert("The active layer is hidden.");
  if (tool !== "picker") pushUndo();
  drawing = tool === "pencil" || tool === "eraser";
  last = null;
  canvas.setPointerCapture(e.pointerId);
  apply(e);
};
canvas.onpointermove = (e) => { if (drawing) apply(e); };
canvas.onpointerup = () => { drawing = false; save(); };

function setTool(t) {
  tool = t;
  document.querySelectorAll("#tools button").forEach((b) => b.classList.toggle("on", b.dataset.tool === t));
}

function renderPalette() {
  const el = $("palette");
  el.innerHTML = "";
  PALETTE.forEach((c) => {
    const s = document.createElement("div");
    s.className = "sw" + (c === color ? " on" : "");
    s.style.background = c; s.title = c;
    s.onclick = () => { color = c; if (tool === "eraser" || tool === "picker") setTool("pencil"); renderPalette(); };
    el.appendChild(s);
  });
  $("custom").value = color;
}

function renderLayers() {
  const el = $("layers");
  el.innerHTML = "";
  state.layers.map((l, i) => [l, i]).reverse().forEach(([l, i]) => { // top layer first
    const row = document.createElement("div");
    row.className = "layer" + (i === state.active ? " on" : "");
    const btn = (t, title, fn) => { const b = document.createElement("button"); b.textContent = t; b.title = title; b.onclick = (e) => { e.stopPropagation(); fn(); }; return b; };
    const name = document.createElement("span");
    name.textContent = l.name;
    name.ondblclick = () => { const n = prompt("Layer name", l.name); if (n) { l.name = n; save(); renderLayers(); } };
    row.append(
      btn(l.visible ? "👁" : "–", "Toggle visibility", () => { l.visible = !l.visible; save(); renderAll(); }),
      name,
      btn("▲", "Move up", () => moveLayer(i, 1)),
      btn("▼", "Move down", () => moveLayer(i, -1)),
      btn("✕", "Delete", () => {
        if (state.layers.length === 1) return;
        pushUndo(); state.layers.splice(i, 1); state.active = Math.min(state.active, state.layers.length - 1); save(); renderAll();
      })
    );
    row.onclick = () => { state.active = i; save(); renderLayers(); };
    el.appendChild(row);
  });
}

function moveLayer(i, d) {
  const j = i + d;
  if (j < 0 || j >= state.layers.length) return;
  [state.layers[i], state.layers[j]] = [state.layers[j], state.layers[i]];
  if (state.active === i) state.active = j; else if (state.active === j) state.active = i;
  save(); renderAll();
}

function exportPng() {
  const scale = 8, out = document.createElement("canvas");
  out.width = W * scale; out.height = H * scale;
  const o = out.getContext("2d");
  for (const l of state.layers) if (l.visible) l.pixels.forEach((c, i) => { if (c) { o.fillStyle = c; o.fillRect((i % W) * scale, Math.floor(i / W) * scale, scale, scale); } });
  const a = document.createElement("a");
  a.href = out.toDataURL("image/png"); a.download = "pixel-art.png";
  document.body.appendChild(a); a.click(); a.remove();
}

function renderAll() { draw(); renderLayers(); renderPalette(); }

document.querySelectorAll("#tools button").forEach((b) => (b.onclick = () => setTool(b.dataset.tool)));
$("custom").oninput = (e) => { color = e.target.value; if (tool !== "fill") setTool("pencil"); renderPalette(); };
$("addLayer").onclick = () => {
  pushUndo();
  state.layers.splice(state.active + 1, 0, { name: "Layer " + (state.layers.length + 1), visible: true, pixels: blank() });
  state.active++; save(); renderAll();
};
$("clear").onclick = () => { pushUndo(); layer().pixels = blank(); save(); draw(); };
$("grid").onclick = (e) => { showGrid = !showGrid; e.target.classList.toggle("on", showGrid); draw(); };
$("undo").onclick = undo;
$("export").onclick = exportPng;
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT") return;
  if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo(); }
  const t = { b: "pencil", e: "eraser", g: "fill", i: "picker" }[e.key];
  if (t && !e.ctrlKey && !e.metaKey) setTool(t);
});

setTool("pencil");
renderAll();
