// localStorage can be unavailable (sandboxed frames, privacy modes): fall back to memory.
const store = (() => {
  try { const s = window.localStorage; s.setItem("storage-probe", "1"); s.removeItem("storage-probe"); return s; }
  catch (e) { const m = {}; return { getItem: (k) => (k in m ? m[k] : null), setItem: (k, v) => { m[k] = String(v); } }; }
})();
const BANK = {
  Science: [
    ["What gas do plants absorb from the air?", ["Oxygen", "Carbon dioxide", "Nitrogen", "Helium"], 1],
    ["What is the chemical symbol for gold?", ["Go", "Gd", "Au", "Ag"], 2],
    ["How many bones are in the adult human body?", ["186", "206", "226", "246"], 1],
    ["What is the closest star to Earth?", ["Sirius", "Proxima Centauri", "The Sun", "Vega"], 2],
    ["What is H2O more commonly called?", ["Salt", "Water", "Hydrogen peroxide", "Ammonia"], 1],
  ],
  Geography: [
    ["What is the largest ocean?", ["Atlantic", "Indian", "Arctic", "Pacific"], 3],
    ["Which country has the most people?", ["India", "USA", "China", "Brazil"], 0],
    ["What is the capital of Australia?", ["Sydney", "Canberra", "Melbourne", "Perth"], 1],
    ["Which river flows through Cairo?", ["Nile", "Amazon", "Danube", "Tigris"], 0],
    ["Mount Everest lies on the border of Nepal and…", ["India", "Bhutan", "China", "Pakistan"], 2],
  ],
  History: [
    ["In which year did the Berlin Wall fall?", ["1979", "1989", "1991", "1999"], 1],
    ["Who was the first person to walk on the Moon?", ["Buzz Aldrin", "Yuri Gagarin", "Neil Armstrong", "John Glenn"], 2],
    ["Which ancient city was buried by Vesuvius?", ["Athens", "Pompeii", "Carthage", "Troy"], 1],
    ["The printing press with movable type is credited to…", ["Gutenberg", "Newton", "Da Vinci", "Galileo"], 0],
    ["Which empire built Machu Picchu?", ["Aztec", "Maya", "Inca", "Olmec"], 2],
  ],
  "Arts & Media": [
    ["Who painted the Mona Lisa?", ["Michelangelo", "Leonardo da Vinci", "Raphael", "Donatello"], 1],
    ["How many strings does a standard guitar have?", ["4", "5", "6", "7"], 2],
    ["Which author wrote “1984”?", ["Aldous Huxley", "George Orwell", "Ray Bradbury", "H. G. Wells"], 1],
    ["What colour do you get by mixing blue and yellow?", ["Green", "Purple", "Orange", "Brown"], 0],
    ["Which instrument has 88 keys?", ["Organ", "Harp", "Piano", "Accordion"], 2],
  ],
};
const QUESTIONS_PER_ROUND = 4, LETTERS = "ABCD";
const KEY = "trivia-league.v1";
let league = JSON.parse(store.getItem(KEY) || "{}"); // name -> {p, w, c, pts}
let roster = JSON.parse(store.getItem(KEY + ".roster") || "[]");
let round = null; // { no, category, questions, qi, picks, revealed, correct }
let roundNo = Math.max(0, ...Object.values(league).map((s) => s.p));
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const save = () => { store.setItem(KEY, JSON.stringify(league)); store.setItem(KEY + ".roster", JSON.stringify(roster)); };
const shuffle = (a) => { a = [...a]; for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; } return a; };

function renderTable() {
  const rows = Object.entries(league).sort(([, a], [, b]) => b.pts - a.pts || b.c - a.c || b.w - a.w);
  $("table").innerHTML = rows.map(([n, s], i) => `<tr><td>${i + 1}</td><td>${esc(n)}</td><td>${s.p}</td><td>${s.w}</td><td>${s.c}</td><td>${s.pts}</td></tr>`).join("")
    || '<tr><td colspan="6"><small>No rounds played yet.</small></td></tr>';
}

function renderSetup() {
  $("game").innerHTML = `<h2>Players</h2>
    <div>${roster.map((n, i) => `<span class="chip">${esc(n)} <a href="#" data-i="${i}">✕</a></span>`).join("") || "<small>Add at least two players.</small>"}</div>
    <form class="row" id="addForm"><input id="pname" placeholder="Player name" maxlength="20"><button>Add</button></form>
    <h2>Next round</h2><div class="row">${Object.keys(BANK).map((c) => `<button class="primary" data-cat="${esc(c)}" ${roster.length < 2 ? "disabled" : ""}>${esc(c)}</button>`).join("")}
    <button class="primary" data-cat="" ${roster.length < 2 ? "disabled" : ""}>🎲 Random</button></div>`;
  $("addForm").onsubmit = (e) => {
    e.preventDefault();
    const n = $("pname").value.trim();
    if (n && !roster.includes(n)) { roster.push(n); save(); }
    renderSetup(); $("pname").focus();
  };
  $("game").querySelectorAll("a[data-i]").forEach((a) => (a.onclick = (e) => { e.preventDefault(); roster.splice(+a.dataset.i, 1); save(); renderSetup(); }));
  $("game").querySelectorAll("button[data-cat]").forEach((b) => (b.onclick = () => startRound(b.dataset.cat || shuffle(Object.keys(BANK))[0])));
}

function startRound(category) {
  roundNo++;
  const questions = shuffle(BANK[category]).slice(0, QUESTIONS_PER_ROUND).map(([q, choices, a]) => ({ q, choices, a }));
  round = { no: roundNo, category, questions, qi: 0, picks: {}, revealed: false, correct: Object.fromEntries(roster.map((n) => [n, 0])) };
  renderQuestion();
}

function renderQuestion() {
  const q = round.questions[round.qi];
  const all = roster.every((n) => round.picks[n] != null);
  $("game").innerHTML = `<small>Round ${round.no} · ${esc(round.category)} · Question ${round.qi + 1}/${round.questions.length}</small>
    <h2>${esc(q.q)}</h2>
    <div class="choices">${q.choices.map((c, i) => `<div class="${round.revealed ? (i === q.a ? "ok" : "") : ""}">${LETTERS[i]}. ${esc(c)}${round.revealed && i === q.a ? " ✔" : ""}</div>`).join("")}</div>
    <h3>Answers</h3>
    ${roster.map((n) => `<div class="row"><b>${esc(n)}</b>${round.revealed
      ? `<span class="${round.picks[n] === q.a ? "ok" : "bad"}">${LETTERS[round.picks[n]]} ${round.picks[n] === q.a ? "✔ +1" : "✘"}</span>`
      : q.choices.map((_, i) => `<button class="pick ${round.picks[n] === i ? "on" : ""}" data-n="${esc(n)}" data-i="${i}">${LETTERS[i]}</button>`).join("")}</div>`).join("")}
    <div class="row">${round.revealed ? `<button class="primary" id="next">${round.qi + 1 < round.questions.length ? "Next question" : "Finish round"}</button>`
      : `<button class="primary" id="reveal" ${all ? "" : "disabled"}>Reveal answer</button><small>${all ? "" : "Waiting for everyone to pick…"}</small>`}</div>`;
  $("game").querySelectorAll("button.pick").forEach((b) => (b.onclick = () => { round.picks[b.dataset.n] = +b.dataset.i; renderQuestion(); }));
  if ($("reveal")) $("reveal").onclick = () => {
    round.revealed = true;
    roster.forEach((n) => { if (round.picks[n] === q.a) round.correct[n]++; });
    renderQuestion();
  };
  if ($("next")) $("next").onclick = () => {
    round.qi++; round.picks = {}; round.revealed = false;
    round.qi < round.questions.length ? renderQuestion() : finishRound();
  };
}

function finishRound() {
  const best = Math.max(...roster.map((n) => round.correct[n]));
  const winners = roster.filter((n) => round.correct[n] === best);
  roster.forEach((n) => {
    const s = (league[n] ||= { p: 0, w: 0, c: 0, pts: 0 });
    s.p++; s.c += round.correct[n];
    if (winners.includes(n)) { s.w++; s.pts += winners.length === 1 ? 3 : 1; }
  });
  save(); renderTable();
  $("game").innerHTML = `<h2>Round ${round.no} results — ${esc(round.category)}</h2>
    ${roster.slice().sort((a, b) => round.correct[b] - round.correct[a]).map((n) => `<div class="row"><b>${esc(n)}</b> ${round.correct[n]} / ${round.questions.length} ${winners.includes(n) ? "🏅" : ""}</div>`).join("")}
    <p>${winners.length === 1 ? `${esc(winners[0])} wins the round!` : `Shared win: ${winners.map(esc).join(", ")}`}</p>
    <button class="primary" id="again">Next round</button>`;
  $("again").onclick = () => { round = null; renderSetup(); };
}

$("resetLeague").onclick = () => { if (confirm("Clear all league standings?")) { league = {}; roundNo = 0; save(); renderTable(); } };
renderTable();
renderSetup();
