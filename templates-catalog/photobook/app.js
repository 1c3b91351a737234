// localStorage can be unavailable (sandboxed frames, privacy modes): fall back to memory.
const store = (() => {
  try { const s = window.localStorage; s.setItem("storage-probe", "1"); s.removeItem("storage-probe"); return s; }
  catch (e) { const m = {}; return { getItem: (k) => (k in m ? m[k] : null), setItem: (k, v) => { m[k] = String(v); } }; }
})();
const KEY = "photobook.v1";
const state = JSON.parse(store.getItem(KEY) || '{"title":"My Photobook","photos":[]}');
const grid = document.getElementById("grid");
const titleEl = document.getElementById("title");
const viewer = document.getElementById("viewer");

function save() {
  try {
    store.setItem(KEY, JSON.stringify(state));
  } catch (e) {
    alert("Storage is full — the newest photos will only last until the page is closed.");
  }
}

// Downscale large images so the album fits in store.
function shrink(dataUrl, max = 1024) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const k = Math.min(1, max / Math.max(img.width, img.height));
      const c = document.createElement("canvas");
      c.width = Math.round(img.width * k); c.height = Math.round(img.height * k);
      c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
      resolve(c.toDataURL("image/jpeg", 0.85));
    };
    img.onerror = () => resolve(dataUrl);
    img.src = dataUrl;
  });
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = reject;
    r.readAsDataURL(file);
  });
}

document.getElementById("file").onchange = async (e) => {
  for (const f of e.target.files) {
    if (!f.type.startsWith("image/")) continue;
    const data = await shrink(await readFile(f));
    state.photos.push({ id: Date.now() + Math.random(), name: f.name, data, caption: f.name.replace(/\.[^.]+$/, "") });
  }
  e.target.value = "";
  save(); render();
};

function move(i, d) {
  const j = i + d;
  if (j < 0 || j >= state.photos.length) return;
  [state.photos[i], state.photos[j]] = [state.photos[j], state.photos[i]];
  save(); render();
}

function render() {
  titleEl.textContent = state.title;
  document.getElementById("count").textContent = `${state.photos.length} photo${state.photos.length === 1 ? "" : "s"}`;
  grid.innerHTML = "";
  if (!state.photos.length) {
    grid.innerHTML = '<div class="empty">No photos yet — click “Add photos” to choose images from your device.</div>';
    return;
  }
  state.photos.forEach((p, i) => {
    const card = document.createElement("div");
    card.className = "card";
    card.style.setProperty("--r", `${((i * 37) % 7) - 3}deg`);
    const img = document.createElement("img");
    img.src = p.data; img.alt = p.caption;
    img.onclick = () => openViewer(p);
    const cap = document.createElement("input");
    cap.value = p.caption; cap.placeholder = "Add a caption";
    cap.oninput = () => { p.caption = cap.value; save(); };
    const tools = document.createElement("div");
    tools.className = "tools";
    const btn = (txt, title, fn) => { const b = document.createElement("button"); b.textContent = txt; b.title = title; b.onclick = fn; return b; };
    tools.append(
      btn("◀", "Move earlier", () => move(i, -1)),
      btn("🗑", "Remove", () => { if (confirm("Remove this photo?")) { state.photos.splice(i, 1); save(); render(); } }),
      btn("▶", "Move later", () => move(i, 1))
    );
    card.append(img, cap, tools);
    grid.appendChild(card);
  });
}

function openViewer(p) {
  viewer.querySelector("img").src = p.data;
  viewer.querySelector("p").textContent = p.caption;
  viewer.classList.add("open");
}
viewer.onclick = () => viewer.classList.remove("open");
document.addEventListener("keydown", (e) => { if (e.key === "Escape") viewer.classList.remove("open"); });
titleEl.oninput = () => { state.title = titleEl.textContent.trim() || "My Photobook"; save(); };

render();
