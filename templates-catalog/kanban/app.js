// localStorage can be unavailable (sandboxed frames, privacy modes): fall back to memory.
const store = (() => {
  try { const s = window.localStorage; s.setItem("storage-probe", "1"); s.removeItem("storage-probe"); return s; }
  catch (e) { const m = {}; return { getItem: (k) => (k in m ? m[k] : null), setItem: (k, v) => { m[k] = String(v); } }; }
})();
const KEY = "kanban.v1";
let state = JSON.parse(store.getItem(KEY) || "null") || {
  columns: [
    { id: 1, title: "To do", cards: [{ id: 11, title: "Drag me to Doing" }, { id: 12, title: "Double-click to rename" }] },
    { id: 2, title: "Doing", cards: [] },
    { id: 3, title: "Done", cards: [] },
  ],
};
const board = document.getElementById("board");
let dragged = null; // { card, from }

const save = () => store.setItem(KEY, JSON.stringify(state));
const uid = () => Date.now() + Math.floor(Math.random() * 1000);

function moveCard(card, from, to, beforeId) {
  from.cards = from.cards.filter((c) => c !== card);
  const i = beforeId == null ? -1 : to.cards.findIndex((c) => c.id === beforeId);
  if (i < 0) to.cards.push(card); else to.cards.splice(i, 0, card);
  save(); render();
}

function cardEl(card, col, ci) {
  const el = document.createElement("div");
  el.className = "card"; el.draggable = true; el.dataset.id = card.id;
  const text = document.createElement("span");
  text.textContent = card.title;
  text.ondblclick = () => {
    const t = prompt("Rename card", card.title);
    if (t && t.trim()) { card.title = t.trim(); save(); render(); }
  };
  const mk = (label, title, fn, hidden) => {
    const b = document.createElement("button");
    b.textContent = label; b.title = title; b.onclick = fn;
    if (hidden) b.style.visibility = "hidden";
    return b;
  };
  const cols = state.columns;
  el.append(
    mk("◀", "Move left", () => moveCard(card, col, cols[ci - 1]), ci === 0),
    text,
    mk("▶", "Move right", () => moveCard(card, col, cols[ci + 1]), ci === cols.length - 1),
    mk("✕", "Delete", () => { col.cards = col.cards.filter((c) => c !== card); save(); render(); })
  );
  el.ondragstart = () => { dragged = { card, from: col }; el.classList.add("dragging"); };
  el.ondragend = () => { dragged = null; el.classList.remove("dragging"); };
  return el;
}

function render() {
  board.innerHTML = "";
  state.columns.forEach((col, ci) => {
    const el = document.createElement("div");
    el.className = "col";
    const h = document.createElement("h2");
    h.innerHTML = `<span></span><small>${col.cards.length}</small>`;
    h.firstChild.textContent = col.title;
    h.ondblclick = () => {
      const t = prompt("Rename column (empty to delete if it has no cards)", col.title);
      if (t === null) return;
      if (!t.trim() && !col.cards.length) state.columns.splice(ci, 1);
      else if (t.trim()) col.title = t.trim();
      save(); render();
    };
    const list = document.createElement("div");
    list.className = "cards";
    col.cards.forEach((card) => list.appendChild(cardEl(card, col, ci)));
    const form = document.createElement("form");
    form.innerHTML = '<input placeholder="New card…"><button>Add</button>';
    form.onsubmit = (e) => {
      e.preventDefault();
      const v = form.firstChild.value.trim();
      if (!v) return;
      col.cards.push({ id: uid(), title: v });
      save(); render();
      board.children[ci].querySelector("input").focus();
    };
    el.ondragover = (e) => { if (dragged) { e.preventDefault(); el.classList.add("over"); } };
    el.ondragleave = () => el.classList.remove("over");
    el.ondrop = (e) => {
      e.preventDefault();
      if (!dragged) return;
      const target = e.target.closest(".card");
      if (target && +target.dataset.id === dragged.card.id) return render();
      moveCard(dragged.card, dragged.from, col, target ? +target.dataset.id : null);
    };
    el.append(h, list, form);
    board.appendChild(el);
  });
}

document.getElementById("addCol").onclick = () => {
  const t = prompt("Column name");
  if (t && t.trim()) { state.columns.push({ id: uid(), title: t.trim(), cards: [] }); save(); render(); }
};

render();
