const SB = 10, BB = 20, MAX_RAISES = 4;
const RANKS = "23456789TJQKA", SUITS = "♠♥♦♣";
const HAND_NAMES = ["High card", "Pair", "Two pair", "Three of a kind", "Straight", "Flush", "Full house", "Four of a kind", "Straight flush"];
const players = ["You", "Ada", "Bix", "Cy"].map((name, i) => ({ name, bot: i > 0, chips: 1000, hole: [] }));
let deck, board, dealer = -1, street, currentBet, raises, turn, handOver = true;
const $ = (id) => document.getElementById(id);

// ---------- hand evaluator ----------
function score5(cs) {
  const rs = cs.map((c) => c.r).sort((a, b) => b - a);
  const flush = cs.every((c) => c.s === cs[0].s);
  let straight = 0;
  if (new Set(rs).size === 5) straight = rs[0] - rs[4] === 4 ? rs[0] : rs[0] === 14 && rs[1] === 5 ? 5 : 0;
  const cnt = {};
  rs.forEach((r) => (cnt[r] = (cnt[r] || 0) + 1));
  const g = Object.entries(cnt).map(([r, n]) => [n, +r]).sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  const byGroup = g.map((x) => x[1]);
  if (straight && flush) return [8, straight];
  if (g[0][0] === 4) return [7, ...byGroup];
  if (g[0][0] === 3 && g[1][0] === 2) return [6, ...byGroup];
  if (flush) return [5, ...rs];
  if (straight) return [4, straight];
  if (g[0][0] === 3) return [3, ...byGroup];
  if (g[0][0] === 2 && g[1][0] === 2) return [2, ...byGroup];
  if (g[0][0] === 2) return [1, ...byGroup];
  return [0, ...rs];
}
const cmp = (a, b) => { for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) - (b[i] || 0); return 0; };
function bestHand(cards) { // best 5 of 5..7 cards
  let best = null;
  const pick = (start, chosen) => {
    if (chosen.length === 5) { const s = score5(chosen); if (!best || cmp(s, best) > 0) best = s; return; }
    for (let i = start; i < cards.length; i++) pick(i + 1, [...chosen, cards[i]]);
  };
  pick(0, []);
  return best;
}

// ---------- game flow ----------
const live = () => players.filter((p) => !p.folded && !p.out);
const canAct = (p) => !p.folded && !p.out && p.chips > 0;
const nextSeat = (i, pred) => { for (let k = 1; k <= players.length; k++) { const j = (i + k) % players.length; if (pred(players[j])) return j; } return -1; };
const v = (p, verb) => (p.bot ? verb + "s" : verb); // "Ada folds" / "You fold"
function log(msg) { $("log").innerHTML = `<div>${msg}</div>` + $("log").innerHTML; }
function put(p, amt) { amt = Math.min(amt, p.chips); p.chips -= amt; p.bet += amt; p.total += amt; }

function deal() {
  players.forEach((p) => { p.out = p.chips <= 0; Object.assign(p, { folded: false, bet: 0, total: 0, hole: [], won: false, acted: false }); });
  if (players[0].out) { log("<b>You are out of chips — reload the page to start over.</b>"); return; }
  if (live().length < 2) { log("<b>You beat all the bots! 🏆</b>"); return; }
  deck = [];
  for (const s of SUITS) for (let r = 2; r <= 14; r++) deck.push({ r, s });
  for (let i = deck.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [deck[i], deck[j]] = [deck[j], deck[i]]; }
  board = []; street = 0; handOver = false;
  dealer = nextSeat(dealer, (p) => !p.out);
  live().forEach((p) => (p.hole = [deck.pop(), deck.pop()]));
  const sb = nextSeat(dealer, (p) => !p.out), bb = nextSeat(sb, (p) => !p.out);
  put(players[sb], SB); put(players[bb], BB);
  currentBet = BB; raises = 0;
  log(`— New hand. ${players[dealer].name} ${v(players[dealer], "deal")}; ${players[sb].name} ${v(players[sb], "post")} ${SB}, ${players[bb].name} ${v(players[bb], "post")} ${BB}.`);
  turn = nextSeat(bb, canAct);
  step();
}

function roundDone() {
  const actors = players.filter(canAct);
  return actors.every((p) => p.acted && p.bet === currentBet) || (actors.length <= 1 && actors.every((p) => p.bet >= currentBet));
}

function step() {
  render();
  if (live().length === 1) return finish();
  if (turn === -1 || roundDone()) return nextStreet();
  const p = players[turn];
  if (p.bot) setTimeout(() => { botAct(p); }, 650);
}

function act(p, action) {
  const toCall = currentBet - p.bet;
  if (action === "fold") { p.folded = true; log(`${p.name} ${v(p, "fold")}.`); }
  else if (action === "raise" && raises < MAX_RAISES && p.chips > toCall) {
    put(p, toCall + (street < 2 ? BB : 2 * BB));
    if (p.bet > currentBet) { currentBet = p.bet; raises++; players.forEach((q) => q !== p && (q.acted = false)); }
    log(`${p.name} ${v(p, toCall > 0 ? "raise" : "bet")} to ${p.bet}${p.chips === 0 ? " (all-in)" : ""}.`);
  } else {
    const before = p.chips;
    put(p, toCall);
    log(toCall > 0 ? `${p.name} ${v(p, "call")} ${before - p.chips}${p.chips === 0 ? " (all-in)" : ""}.` : `${p.name} ${v(p, "check")}.`);
  }
  p.acted = true;
  turn = nextSeat(turn, canAct);
  step();
}

function nextStreet() {
  street++;
  if (street > 3) return finish();
  if (street === 1) board.push(deck.pop(), deck.pop(), deck.pop()); else board.push(deck.pop());
  log(`${["", "Flop", "Turn", "River"][street]}: ${board.map(cardText).join(" ")}`);
  players.forEach((p) => { p.bet = 0; p.acted = false; });
  currentBet = 0; raises = 0;
  turn = players.filter(canAct).length > 1 ? nextSeat(dealer, canAct) : -1;
  if (turn === -1) return setTimeout(nextStreet, 500), render();
  step();
}

function finish() {
  handOver = true;
  const contenders = live();
  if (contenders.length === 1) {
    const w = contenders[0], pot = players.reduce((s, p) => s + p.total, 0);
    w.chips += pot; w.won = true;
    log(`<b>${w.name} ${v(w, "win")} ${pot}</b> — everyone else folded.`);
    return render();
  }
  while (board.length < 5) board.push(deck.pop());
  contenders.forEach((p) => { p.score = bestHand([...p.hole, ...board]); log(`${p.name} ${v(p, "show")} ${p.hole.map(cardText).join(" ")} — ${HAND_NAMES[p.score[0]]}`); });
  // side pots by contribution level
  const levels = [...new Set(players.map((p) => p.total).filter((t) => t > 0))].sort((a, b) => a - b);
  let prev = 0;
  const pots = [];
  for (const lvl of levels) {
    const pot = players.reduce((s, p) => s + Math.max(0, Math.min(p.total, lvl) - prev), 0);
    let eligible = contenders.filter((p) => p.total >= lvl);
    prev = lvl;
    if (!eligible.length) eligible = contenders; // only folded players reached this level
    const top = eligible.reduce((b, p) => (cmp(p.score, b.score) > 0 ? p : b)).score;
    const winners = eligible.filter((p) => cmp(p.score, top) === 0);
    winners.forEach((w, i) => { w.chips += Math.floor(pot / winners.length) + (i === 0 ? pot % winners.length : 0); w.won = true; });
    const who = winners.map((w) => w.name).join(" & "), last = pots[pots.length - 1];
    if (last && last.who === who) last.pot += pot; else pots.push({ who, pot, n: winners.length, hand: HAND_NAMES[top[0]] });
  }
  pots.forEach((x, i) => log(`<b>${x.who} win${x.n > 1 || x.who === "You" ? "" : "s"} ${x.pot}</b>${i ? " (side pot)" : ""} with ${x.hand}.`));
  render();
}

// ---------- bots ----------
function strength(p) {
  const [a, b] = p.hole;
  if (!board.length) return a.r === b.r ? 0.5 + a.r / 28 : (Math.max(a.r, b.r) / 14) * 0.45 + (a.s === b.s ? 0.05 : 0) + (Math.abs(a.r - b.r) === 1 ? 0.05 : 0);
  const cat = bestHand([...p.hole, ...board])[0];
  return [0.2, 0.45, 0.65, 0.8, 0.85, 0.88, 0.92, 0.97, 1][cat];
}
function botAct(p) {
  const s = strength(p), r = Math.random(), toCall = currentBet - p.bet;
  if (s > 0.7 && r < 0.7) return act(p, "raise");
  if (toCall === 0) return act(p, r < 0.1 ? "raise" : "call");
  if (s > 0.4 || (toCall <= BB && r < 0.6) || r < 0.08) return act(p, "call");
  act(p, "fold");
}

// ---------- UI ----------
const cardText = (c) => RANKS[c.r - 2].replace("T", "10") + c.s;
const cardHtml = (c, hidden) => hidden ? '<span class="card back"></span>' : `<span class="card ${"♥♦".includes(c.s) ? "red" : ""}">${cardText(c)}</span>`;
function render() {
  $("seats").innerHTML = players.map((p, i) => `<div class="seat ${!handOver && i === turn ? "turn" : ""} ${p.out || p.folded ? "out" : ""} ${p.won ? "win" : ""}">
    <b>${p.name}${i === dealer ? " Ⓓ" : ""}</b><div>${p.hole.map((c) => cardHtml(c, p.bot && !(handOver && !p.folded && live().length > 1))).join("")}</div>
    <div>💰 ${p.chips}</div><div class="info">${p.folded ? "folded" : p.bet ? "bet " + p.bet : ""}</div></div>`).join("");
  $("board").innerHTML = board ? board.map((c) => cardHtml(c)).join("") || "&nbsp;" : "";
  $("pot").textContent = "Pot: " + players.reduce((s, p) => s + (p.total || 0), 0);
  const me = players[0], mine = !handOver && turn === 0, toCall = currentBet - (me.bet || 0);
  $("fold").disabled = $("call").disabled = !mine;
  $("raise").disabled = !mine || raises >= MAX_RAISES || me.chips <= toCall;
  $("call").textContent = toCall > 0 ? `Call ${Math.min(toCall, me.chips)}` : "Check";
  $("raise").textContent = `${currentBet > 0 ? "Raise" : "Bet"} ${street < 2 ? BB : 2 * BB}`;
  $("deal").disabled = !handOver;
}
$("fold").onclick = () => act(players[0], "fold");
$("call").onclick = () => act(players[0], "call");
$("raise").onclick = () => act(players[0], "raise");
$("deal").onclick = deal;
board = [];
render();
log("Press <b>Deal next hand</b> to start.");
