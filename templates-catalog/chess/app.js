// Board: 8x8 array, row 0 = rank 8. Uppercase = white, lowercase = black.
const GLYPH = { K: "♔", Q: "♕", R: "♖", B: "♗", N: "♘", P: "♙", k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟" };
const START = ["rnbqkbnr", "pppppppp", "........", "........", "........", "........", "PPPPPPPP", "RNBQKBNR"];
let board, turn, selected, history;

const isWhite = (p) => p !== "." && p === p.toUpperCase();
const colorOf = (p) => (p === "." ? null : isWhite(p) ? "w" : "b");
const sqName = (r, c) => "abcdefgh"[c] + (8 - r);

function reset() {
  board = START.map((row) => row.split(""));
  turn = "w"; selected = null; history = [];
  render();
}

function pathClear(r1, c1, r2, c2) {
  const dr = Math.sign(r2 - r1), dc = Math.sign(c2 - c1);
  let r = r1 + dr, c = c1 + dc;
  while (r !== r2 || c !== c2) {
    if (board[r][c] !== ".") return false;
    r += dr; c += dc;
  }
  return true;
}

// Basic piece-movement rules (no castling / en passant); promotion to queen.
function canMove(r1, c1, r2, c2) {
  const p = board[r1][c1], t = board[r2][c2];
  if (p === "." || (r1 === r2 && c1 === c2)) return false;
  if (colorOf(t) === colorOf(p)) return false;
  const dr = r2 - r1, dc = c2 - c1, adr = Math.abs(dr), adc = Math.abs(dc);
  switch (p.toLowerCase()) {
    case "p": {
      const dir = isWhite(p) ? -1 : 1, home = isWhite(p) ? 6 : 1;
      if (dc === 0 && t === ".") {
        if (dr === dir) return true;
        if (r1 === home && dr === 2 * dir && board[r1 + dir][c1] === ".") return true;
      }
      return adc === 1 && dr === dir && t !== ".";
    }
    case "n": return (adr === 2 && adc === 1) || (adr === 1 && adc === 2);
    case "b": return adr === adc && pathClear(r1, c1, r2, c2);
    case "r": return (dr === 0 || dc === 0) && pathClear(r1, c1, r2, c2);
    case "q": return (adr === adc || dr === 0 || dc === 0) && pathClear(r1, c1, r2, c2);
    case "k": return adr <= 1 && adc <= 1;
  }
  return false;
}

function findKing(color) {
  const k = color === "w" ? "K" : "k";
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) if (board[r][c] === k) return [r, c];
  return null;
}

function inCheck(color) {
  const k = findKing(color);
  if (!k) return false;
  for (let r = 0; r < 8; r++)
    for (let c = 0; c < 8; c++)
      if (colorOf(board[r][c]) && colorOf(board[r][c]) !== color && canMove(r, c, k[0], k[1])) return true;
  return false;
}

// Legal = piece rule ok and own king not left in check.
function legal(r1, c1, r2, c2) {
  if (!canMove(r1, c1, r2, c2)) return false;
  const p = board[r1][c1], t = board[r2][c2];
  board[r2][c2] = p; board[r1][c1] = ".";
  const ok = !inCheck(colorOf(p));
  board[r1][c1] = p; board[r2][c2] = t;
  return ok;
}

function hasAnyMove(color) {
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) {
    if (colorOf(board[r][c]) !== color) continue;
    for (let r2 = 0; r2 < 8; r2++) for (let c2 = 0; c2 < 8; c2++) if (legal(r, c, r2, c2)) return true;
  }
  return false;
}

function click(r, c) {
  if (selected && legal(selected[0], selected[1], r, c)) {
    const [r1, c1] = selected;
    let p = board[r1][c1];
    const cap = board[r][c];
    if (p === "P" && r === 0) p = "Q";
    if (p === "p" && r === 7) p = "q";
    board[r][c] = p; board[r1][c1] = ".";
    history.push(`${GLYPH[p]}${sqName(r1, c1)}${cap !== "." ? "x" : "-"}${sqName(r, c)}`);
    turn = turn === "w" ? "b" : "w";
    selected = null;
  } else if (colorOf(board[r][c]) === turn) {
    selected = [r, c];
  } else {
    selected = null;
  }
  render();
}

function render() {
  const el = document.getElementById("board");
  el.innerHTML = "";
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) {
    const d = document.createElement("div");
    d.className = "sq " + ((r + c) % 2 ? "dark" : "light");
    if (selected && selected[0] === r && selected[1] === c) d.classList.add("sel");
    if (selected && legal(selected[0], selected[1], r, c)) d.classList.add("hint");
    d.textContent = GLYPH[board[r][c]] || "";
    d.title = sqName(r, c);
    d.onclick = () => click(r, c);
    el.appendChild(d);
  }
  const name = turn === "w" ? "White" : "Black";
  let s = `${name} to move` + (inCheck(turn) ? " — check!" : "");
  if (!hasAnyMove(turn)) s = inCheck(turn) ? `Checkmate — ${turn === "w" ? "Black" : "White"} wins` : "Stalemate";
  document.getElementById("status").textContent = s;
  document.getElementById("log").textContent = history.map((m, i) => (i % 2 ? "" : `${i / 2 + 1}. `) + m).join(" ");
}

document.getElementById("reset").onclick = reset;
reset();
