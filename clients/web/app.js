// The browser client of the live quiz. Same origin as the APIs: HTTP under /, WebSocket at /ws?token=.
// Uses only the public API (docs at /docs and /docs/websocket). No build step, no dependencies.
"use strict";

const STORE = "vocab-quiz.session";
const REFRESH_MARGIN_MS = 30_000;
// The WebSocket API closes connections idle for 10 minutes; the ping also names the quiz, so a
// registration the server lost comes back within one interval (docs/websocket.md, "Lost registrations").
const PING_EVERY_MS = 20_000;
// A socket that dies under the player (their node crashed) is retried almost at once: nginx sends the new
// one to a surviving node, and the seat and score are kept. Then back off, for about two minutes in all,
// before offering a Rejoin button. Each delay is spread over ±50 % so a dead node's players do not all
// knock on the survivor at the same instant (the same schedule as clients/quiz_client.py).
const RECONNECT_DELAYS_MS = [250, 500, 1_000, 2_000, ...Array(30).fill(4_000)];
const reconnectDelay = (tries) => RECONNECT_DELAYS_MS[tries] * (0.5 + Math.random());
const AUTH_CODES = new Set(["token_expired", "invalid_token", "token_revoked", "refresh_token_reused", "missing_token"]);

const $ = (id) => document.getElementById(id);
let session = JSON.parse(localStorage.getItem(STORE) || "null"); // {user, access_token, refresh_token, access_expires_at}
let game = null; // the live game: {pin, role, ws, question, deadline, board_seq, ...}

// ------------------------------------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function show(id, visible = true) { $(id).hidden = !visible; }

function notice(text, kind = "error") {
  const box = $("notice");
  box.textContent = text;
  box.className = kind === "error" ? "notice" : "notice info";
  box.hidden = !text;
}

const normalisePin = (raw) => raw.toUpperCase().replace(/[^A-Z0-9]/g, "");

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `HTTP ${status}`);
    this.status = status; this.code = error.code || ""; this.details = error.details || {};
  }
}

// One line: what went wrong and what to do next.
function explain(err, pin = "") {
  if (!(err instanceof ApiError)) return `Cannot reach the quiz server (${err.message}) — is \`make run\` running?`;
  if (AUTH_CODES.has(err.code) || (err.status === 401 && err.code !== "invalid_credentials"))
    return "Your session has expired — please log in again.";
  const hints = {
    not_found: `Quiz ${pin} not found — check the PIN.`,
    invalid_credentials: "Wrong username or password — try again, or sign up.",
    username_taken: "That username is taken — pick another one, or log in.",
    quiz_locked: `The host locked quiz ${pin} — ask them to unlock it, then join again.`,
    quiz_ended: `Quiz ${pin} has ended — ask the host for a new PIN.`,
    removed_from_quiz: `The host removed you from quiz ${pin}.`,
    not_quiz_host: `Only the account that created quiz ${pin} can host it.`,
    no_more_questions: "That was the last question — press “End quiz”.",
    already_answered: "You already answered this question.",
    question_closed: "Too late: the question closed.",
    question_not_open: "That question is not open yet.",
    quiz_not_ended: `Quiz ${pin} has not ended yet — end it first, then play it again.`,
    rate_limited: `Too many attempts — wait ${Math.ceil((err.details.retry_after_ms || 0) / 1000) || "a few"} s and try again.`,
  };
  if (hints[err.code]) return hints[err.code];
  const field = err.details.field ? ` (${err.details.field})` : "";
  if (err.status >= 500) return `The server failed (${err.status}) — try again.`;
  return `${err.message}${field}`;
}

// ------------------------------------------------------------------------------------------- HTTP + auth

function saveSession(body) {
  const tokens = body.tokens || body;
  session = {
    user: body.user || (session && session.user) || {},
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    access_expires_at: Date.now() + (tokens.expires_in_ms || 0),
  };
  localStorage.setItem(STORE, JSON.stringify(session));
}

function signOut(message) {
  session = null;
  localStorage.removeItem(STORE);
  leaveGame();
  render();
  if (message) notice(message);
}

async function request(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

let refreshing = null;
async function refresh() {
  // one refresh at a time: refresh tokens rotate, and a reused one revokes the whole session
  refreshing = refreshing || request("POST", "/auth/refresh", { refresh_token: session.refresh_token })
    .then(saveSession)
    .catch((err) => { signOut(explain(err)); throw err; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function freshToken() {
  if (!session) throw new ApiError(401, { error: { code: "missing_token" } });
  if (Date.now() > session.access_expires_at - REFRESH_MARGIN_MS) await refresh();
  return session.access_token;
}

async function api(method, path, body) {
  const token = await freshToken();
  try {
    return await request(method, path, body, token);
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "token_expired") throw err;
    await refresh();
    return request(method, path, body, session.access_token);
  }
}

// ------------------------------------------------------------------------------------------- views

function render() {
  show("auth-view", !session);
  show("home-view", !!session && !game);
  show("game-view", !!session && !!game);
  show("logout", !!session);
  $("whoami").textContent = session ? `${session.user.display_name || ""} (@${session.user.username || ""})` : "";
}

function bindTabs(container) {
  const tabs = container.querySelectorAll(".tab");
  tabs.forEach((tab) => tab.addEventListener("click", (e) => {
    e.preventDefault();
    tabs.forEach((t) => { t.classList.toggle("active", t === tab); show(t.dataset.tab, t === tab); });
  }));
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    const body = await request("POST", "/auth/login", { username: f.username.value.trim(), password: f.password.value });
    saveSession(body);
    if (!body.user) { session.user = await api("GET", "/users/me"); saveSession({ ...session, user: session.user }); }
    f.reset(); notice(""); render();
  } catch (err) { notice(explain(err)); }
});

$("signup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    saveSession(await request("POST", "/auth/signup", {
      username: f.username.value.trim(), display_name: f.display_name.value.trim(), password: f.password.value,
    }));
    f.reset(); notice(""); render();
  } catch (err) { notice(explain(err)); }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/auth/logout", {}); } catch { /* signing out locally is what matters */ }
  signOut("");
});

// ------------------------------------------------------------------------------------------- creating a quiz

const EXAMPLE = {
  title: "Phrasal verbs warm-up",
  questions: [
    { kind: "multiple_choice", prompt: "'Give up' means…", choices: ["surrender", "donate", "lift"], correct_choice: 0, time_limit_ms: 20000, points: 1000 },
    { kind: "typed", prompt: "One word for 'put off' (a meeting):", accepted_answers: ["postpone", "delay"], typo_tolerance: 1, time_limit_ms: 30000, points: 1000 },
    { kind: "multiple_choice", prompt: "'Run out of' milk means you…", choices: ["spilled it", "have none left", "bought too much"], correct_choice: 1, time_limit_ms: 20000, points: 1000 },
  ],
};

let questionSerial = 0;
function addQuestion(kind) {
  const n = ++questionSerial;
  const box = el("div", { class: "question-edit", "data-kind": kind },
    el("div", { class: "row" },
      el("label", {}, kind === "typed" ? "Typed question" : "Multiple-choice question", el("input", { name: "prompt", required: "", maxlength: "500", placeholder: "Prompt" })),
      el("label", {}, "Seconds", el("input", { name: "time", type: "number", min: "5", max: "300", value: "20" })),
      el("label", {}, "Points", el("input", { name: "points", type: "number", min: "0", max: "10000", value: "1000" }))));
  if (kind === "typed") {
    box.append(el("label", {}, "Accepted answers (comma-separated)", el("input", { name: "accepted", required: "", placeholder: "postpone, delay" })));
  } else {
    const choices = el("div", { class: "choices-edit" }, el("small", { class: "muted" }, "Choices — tick the correct one"));
    for (let i = 0; i < 4; i++) {
      choices.append(el("div", { class: "choice-row" },
        el("input", Object.assign({ type: "radio", name: `correct-${n}`, value: String(i), title: "correct answer" }, i === 0 ? { checked: "" } : {})),
        el("input", Object.assign({ name: "choice", maxlength: "200", placeholder: i < 2 ? `Choice ${i + 1}` : `Choice ${i + 1} (optional)` }, i < 2 ? { required: "" } : {}))));
    }
    box.append(choices);
  }
  box.append(el("button", { type: "button", class: "link", onclick: () => box.remove() }, "Remove question"));
  $("questions").append(box);
}

function quizFromBuilder(form) {
  const questions = [...form.querySelectorAll(".question-edit")].map((box) => {
    const q = {
      kind: box.dataset.kind === "typed" ? "typed" : "multiple_choice",
      prompt: box.querySelector("[name=prompt]").value,
      time_limit_ms: Math.round(Number(box.querySelector("[name=time]").value) * 1000), // the form asks people for seconds
      points: Number(box.querySelector("[name=points]").value),
    };
    if (q.kind === "typed") {
      q.accepted_answers = box.querySelector("[name=accepted]").value.split(",").map((s) => s.trim()).filter(Boolean);
    } else {
      const rows = [...box.querySelectorAll(".choice-row")];
      const filled = rows.filter((r) => r.querySelector("[name=choice]").value.trim());
      q.choices = filled.map((r) => r.querySelector("[name=choice]").value.trim());
      q.correct_choice = filled.findIndex((r) => r.querySelector("[type=radio]").checked);
    }
    return q;
  });
  return { title: form.title.value, questions };
}

async function createQuiz(quiz) {
  try {
    const created = await api("POST", "/quizzes", quiz);
    const out = $("created");
    out.replaceChildren(`Created “${created.title}” — PIN `, el("strong", { class: "pin" }, created.quiz_id), " ",
      el("button", { type: "button", onclick: () => startGame(created.quiz_id, "host") }, "Host it now"));
    out.hidden = false;
    notice("");
  } catch (err) { notice(explain(err)); }
}

$("add-choice-q").addEventListener("click", () => addQuestion("multiple_choice"));
$("add-typed-q").addEventListener("click", () => addQuestion("typed"));
$("builder").addEventListener("submit", (e) => {
  e.preventDefault();
  const quiz = quizFromBuilder(e.target);
  if (!quiz.questions.length) return notice("Add at least one question.");
  if (quiz.questions.some((q) => q.kind === "multiple_choice" && q.correct_choice < 0)) return notice("Tick the correct choice of each multiple-choice question (on a filled-in choice).");
  createQuiz(quiz);
});
$("load-example").addEventListener("click", () => { $("json-form").json.value = JSON.stringify(EXAMPLE, null, 2); });
$("json-form").addEventListener("submit", (e) => {
  e.preventDefault();
  let quiz;
  try { quiz = JSON.parse(e.target.json.value); } catch (err) { return notice(`That is not valid JSON: ${err.message}`); }
  createQuiz(quiz);
});

// ------------------------------------------------------------------------------------------- the live game

$("join-form").addEventListener("submit", (e) => { e.preventDefault(); startGame(e.target.pin.value, "player"); });
$("host-form").addEventListener("submit", (e) => { e.preventDefault(); startGame(e.target.pin.value, "host"); });
$("leave").addEventListener("click", () => { leaveGame(); render(); });

async function startGame(rawPin, role) {
  const pin = normalisePin(rawPin);
  if (!pin) return notice("Type the quiz PIN, e.g. ABC234.");
  notice("");
  let quiz = null;
  if (role === "host") {
    // check before joining: a non-host who joins becomes a player
    try { quiz = await api("GET", `/quizzes/${pin}`); } catch (err) { return notice(explain(err, pin)); }
    if (quiz.host_id !== session.user.id) return notice(`Quiz ${pin} belongs to another account — join it as a player instead.`);
  }
  leaveGame();
  game = { pin, role, quiz, ws: null, question: null, deadline: 0, boardSeq: -1, players: new Map(), playerCount: -1, answered: new Set(), pending: new Map(), ended: false };
  resetGameView();
  render();
  connect(game);
}

function resetGameView() {
  $("game-title").textContent = `Quiz ${game.pin}`;
  $("game-status").textContent = "connecting…";
  show("host-controls", game.role === "host");
  $("host-pin").textContent = game.pin;
  $("play-url").textContent = `${location.origin}/play/`;
  $("players").replaceChildren();
  $("host-log").replaceChildren();
  $("player-count").textContent = "";
  show("question", false); show("waiting", false); show("my-rank", false); show("final", false);
  show("report", false); show("review", false);
  $("board").tBodies[0].replaceChildren();
}

async function connect(g) {
  clearInterval(g.ping);
  let token;
  try { token = await freshToken(); } catch (err) { return notice(explain(err, g.pin)); }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  g.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ action: "join", quiz_id: g.pin }));
  ws.onmessage = (event) => { if (game === g) onFrame(JSON.parse(event.data)); };
  ws.onclose = () => {
    clearInterval(g.ping);
    if (game !== g || g.ended) return;
    // The seat and the score are the player's, not the socket's: reconnect (onopen joins again).
    const tries = g.reconnects || 0;
    if (tries < RECONNECT_DELAYS_MS.length) {
      g.reconnects = tries + 1;
      $("game-status").textContent = "reconnecting…";
      setTimeout(() => { if (game === g && !g.ended) connect(g); }, reconnectDelay(tries));
      return;
    }
    $("game-status").textContent = "disconnected";
    const again = el("button", { type: "button", class: "link", onclick: () => { notice(""); g.reconnects = 0; connect(g); } }, "Rejoin");
    notice(""); $("notice").append("The connection closed. ", again, " (your score is kept)"); $("notice").hidden = false;
  };
  g.ping = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: "ping", quiz_id: g.pin })); }, PING_EVERY_MS);
}

function leaveGame() {
  if (!game) return;
  const g = game;
  game = null;
  clearInterval(g.ping); clearInterval(g.ticker);
  if (g.ws) g.ws.close(1000);
}

function send(frame) { if (game && game.ws && game.ws.readyState === WebSocket.OPEN) game.ws.send(JSON.stringify(frame)); }

function setStatus(quiz) {
  if (quiz.title) $("game-title").textContent = `${quiz.title} · ${game.pin}`;
  const role = game.role === "host" ? "hosting" : "playing";
  $("game-status").textContent = `${role} · ${quiz.question_count} questions · ${quiz.status}${quiz.locked ? " · locked" : ""}`;
}

function onFrame(f) {
  if (f.type === undefined && f.message === "Endpoint request timed out") {
    // API Gateway's own frame: the function did not reply within 29 s, and still runs. An answer that
    // reached the server in time still counts; its result comes with the question's results.
    if (game.pending.size) feedback("The server is slow to confirm your answer. It counts if it arrived in time: your result comes when the question closes.");
    else notice("The server is busy and did not reply in time. Try again in a moment.");
    return;
  }
  switch (f.type) {
    case "joined": {
      game.reconnects = 0;
      if (game.role === "player" && f.role === "host") game.role = "host";
      show("host-controls", game.role === "host");
      show("pacing", f.quiz.status !== "ended"); // nothing left to pace in an ended quiz
      game.questionCount = f.quiz.question_count;
      setStatus(f.quiz);
      if (f.leaderboard) renderBoard({ ...f.leaderboard, seq: -1 }, true);
      if (f.me) renderRank({ rank: f.me.rank, score: f.me.score, player_count: f.leaderboard.player_count });
      if (game.role === "host") syncPlayers(f.leaderboard ? f.leaderboard.player_count : 0);
      if (f.open_question) openQuestion(f.open_question);
      else show("waiting", f.quiz.status === "open" && game.role === "player");
      // Opening an ended quiz (the host's PIN form, a reload): straight to the podium and what comes after.
      if (f.quiz.status === "ended") endGame((f.leaderboard && f.leaderboard.top) || []);
      break;
    }
    case "question_opened": openQuestion(f); break;
    case "answer_result": {
      game.pending.delete(f.request_id);
      feedback(f.correct ? `✓ Correct! +${f.points} points` : "✗ Wrong — 0 points", f.correct ? "ok" : "bad");
      break;
    }
    case "your_rank": renderRank(f); break;
    case "leaderboard": renderBoard(f); if (game.role === "host") syncPlayers(f.player_count); break;
    case "question_closed": closeQuestion(f); break;
    case "quiz_ended": endGame(f.standings); break;
    case "removed": game.ended = true; notice(`The host removed you from quiz ${game.pin}.`); leaveGame(); render(); break;
    case "rejoin": send({ action: "join", quiz_id: game.pin }); break; // the server lost this connection: catch up
    case "error": onError(f); break;
    default: break; // pong and anything newer
  }
}

function onError(f) {
  const err = new ApiError(400, { error: f.error }); // the very error object an HTTP body carries
  if (f.action === "join") { notice(explain(err, game.pin)); game.ended = true; leaveGame(); render(); return; }
  if (f.action === "answer") {
    const qid = game.pending.get(f.request_id);
    game.pending.delete(f.request_id);
    if (qid !== undefined && !["already_answered", "question_closed"].includes(err.code)) { game.answered.delete(qid); setAnswerEnabled(true); }
    feedback(explain(err, game.pin), "bad");
    return;
  }
  notice(explain(err, game.pin));
}

function openQuestion(f) {
  const q = f.question;
  if (game.question && game.question.question_id === q.question_id) return;
  game.question = q;
  game.deadline = performance.now() + f.remaining_ms;
  game.timeLimitMs = q.time_limit_ms;
  show("waiting", false); show("question");
  $("q-number").textContent = `Question ${q.question_id}${f.question_count ? ` of ${f.question_count}` : ""} · ${q.points} points`;
  $("q-prompt").textContent = q.prompt;
  $("q-solution").hidden = true;
  feedback("");
  const isHost = game.role === "host";
  const choices = $("q-choices");
  choices.replaceChildren();
  if (q.kind === "multiple_choice") {
    q.choices.forEach((text, i) => choices.append(el("button", { type: "button", "data-index": String(i), onclick: () => answer(i) }, `${i + 1}. ${text}`)));
  }
  show("q-typed", q.kind === "typed" && !isHost);
  $("q-typed").answer.value = "";
  setAnswerEnabled(!isHost);
  if (isHost) {
    const full = game.quiz && game.quiz.questions && game.quiz.questions[q.question_id - 1];
    if (full) solution(full);
  } else if (q.kind === "typed") {
    $("q-typed").answer.focus();
  }
  clearInterval(game.ticker);
  game.ticker = setInterval(tick, 200);
  tick();
}

function tick() {
  if (!game || !game.question) return;
  const left = Math.max(0, game.deadline - performance.now());
  const secs = Math.ceil(left / 1000);
  const countdown = $("q-countdown");
  countdown.textContent = `${secs} s`;
  countdown.classList.toggle("low", secs <= 5);
  $("q-timebar").style.width = `${game.timeLimitMs ? (100 * left) / game.timeLimitMs : 0}%`;
  if (left <= 0) { clearInterval(game.ticker); setAnswerEnabled(false); }
}

function setAnswerEnabled(on) {
  const open = on && game.role === "player" && game.question && !game.answered.has(game.question.question_id);
  $("q-choices").querySelectorAll("button").forEach((b) => { b.disabled = !open; });
  $("q-typed").querySelectorAll("input, button").forEach((x) => { x.disabled = !open; });
}

function answer(value) {
  const q = game.question;
  if (!q || game.answered.has(q.question_id) || performance.now() > game.deadline) return;
  if (typeof value === "string" && !value.trim()) return feedback("Type an answer first.", "bad");
  const requestId = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  game.answered.add(q.question_id);
  game.pending.set(requestId, q.question_id);
  setAnswerEnabled(false);
  if (typeof value === "number") $("q-choices").querySelector(`[data-index="${value}"]`).classList.add("chosen");
  feedback("Answer sent…");
  send({ action: "answer", quiz_id: game.pin, question_id: q.question_id, answer: value, request_id: requestId });
}

$("q-typed").addEventListener("submit", (e) => { e.preventDefault(); answer(e.target.answer.value); });
document.addEventListener("keydown", (e) => {
  // 1-6 pick a choice, as in the CLI
  if (!game || !game.question || game.question.kind !== "multiple_choice" || e.target.tagName === "INPUT") return;
  const i = Number(e.key) - 1;
  if (Number.isInteger(i) && i >= 0 && i < game.question.choices.length) answer(i);
});

function feedback(text, kind = "") {
  const p = $("q-feedback");
  p.textContent = text;
  p.className = `feedback ${kind}`;
}

function solution(q) {
  const p = $("q-solution");
  if (q.correct_answer !== undefined) p.textContent = `Answer: ${q.correct_answer}`;
  else p.textContent = `Accepted: ${(q.accepted_answers || []).join(" / ")}`;
  p.hidden = false;
  if (q.correct_choice !== undefined) {
    $("q-choices").querySelectorAll("button").forEach((b) => {
      const right = Number(b.dataset.index) === q.correct_choice;
      b.classList.toggle("right", right);
      b.classList.toggle("wrong", !right && b.classList.contains("chosen"));
    });
  }
}

function closeQuestion(f) {
  if (game.question && game.question.question_id === f.question_id) {
    clearInterval(game.ticker);
    $("q-countdown").textContent = "closed";
    $("q-timebar").style.width = "0%";
    setAnswerEnabled(false);
  }
  solution(f);
  const mine = f.your_result;
  if (mine) {
    if (!mine.answered) feedback(`You did not answer · score ${mine.score}`, "bad");
    else feedback(mine.correct ? `✓ You were right: +${mine.points} · score ${mine.score}` : `✗ You were wrong · score ${mine.score}`, mine.correct ? "ok" : "bad");
  } else if (f.answers !== undefined) {
    const last = game.questionCount && f.question_id === game.questionCount;
    feedback(`${f.answers} answer${f.answers === 1 ? "" : "s"} received · ${last ? "press “End quiz”" : "press “Next question”"}`);
  }
  game.question = null;
}

function boardRows(rows, tbody) {
  const me = session.user.id;
  tbody.replaceChildren(...rows.map((r) => el("tr", { class: r.user_id === me ? "me" : "" },
    el("td", { class: "rank" }, `#${r.rank}`), el("td", {}, r.display_name + (r.user_id === me ? " (you)" : "")), el("td", { class: "score" }, String(r.score)))));
  if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: "3", class: "muted" }, "No scores yet")));
}

function renderBoard(f, snapshot = false) {
  if (!snapshot) {
    if (f.seq <= game.boardSeq) return; // an older push that arrived late
    game.boardSeq = f.seq;
  }
  $("board-title").textContent = `Leaderboard · ${f.player_count} player${f.player_count === 1 ? "" : "s"}`;
  boardRows(f.top || [], $("board").tBodies[0]);
}

function renderRank(f) {
  if (game.role !== "player" || !f.rank) return;
  const gap = f.next_display_name ? ` · ${f.gap_to_next} more to pass ${f.next_display_name}` : f.rank === 1 ? " · in the lead!" : "";
  $("my-rank").textContent = `You are #${f.rank} of ${f.player_count} · ${f.score} points${gap}`;
  show("my-rank");
}

async function syncPlayers(count) {
  if (count === game.playerCount) return;
  game.playerCount = count;
  const g = game;
  let list;
  try { list = (await api("GET", `/quizzes/${g.pin}/players`)).players; } catch (err) { return notice(explain(err, g.pin)); }
  if (game !== g) return;
  const now = new Map(list.map((p) => [p.user_id, p.display_name]));
  for (const [id, name] of now) if (!g.players.has(id)) log(`${name} joined`);
  for (const [id, name] of g.players) if (!now.has(id)) log(`${name} left`);
  g.players = now;
  $("player-count").textContent = `(${now.size})`;
  $("players").replaceChildren(...[...now.values()].map((name) => el("li", {}, name)));
}

function log(text) {
  $("host-log").prepend(el("li", {}, `${new Date().toLocaleTimeString()} ${text}`));
}

document.querySelectorAll("#host-controls [data-action]").forEach((button) => button.addEventListener("click", async () => {
  const action = button.dataset.action;
  const g = game;
  try {
    // `next` names the question it moves on from, so a double click moves the quiz once, not twice.
    const from = action === "next" && g.question ? { from_question_id: g.question.question_id } : undefined;
    const result = await api("POST", `/quizzes/${g.pin}/${action}`, from);
    if (action === "lock" || action === "unlock") log(result.locked ? "locked: no new players" : "unlocked: players can join");
    if (result.status && game === g) setStatus(result);
    if (action === "end" && result.standings) endGame(result.standings);
  } catch (err) { notice(explain(err, g.pin)); }
}));

function endGame(standings) {
  game.ended = true;
  clearInterval(game.ticker);
  show("question", false); show("waiting", false); show("pacing", false);
  $("game-status").textContent = "ended";
  boardRows(standings || [], $("standings").tBodies[0]);
  renderPodium(standings || []);
  show("final");
  // The host's HTTP `end` and the `quiz_ended` frame both land here: fetch what comes after once.
  if (game.afterQuiz) return;
  game.afterQuiz = true;
  if (game.role === "host") loadReport(game);
  else loadReview(game);
}

// ------------------------------------------------------------------------------------------- after the quiz

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

const seconds = (ms) => (ms === null || ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`);
const percent = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 100)} %`);

function renderPodium(standings) {
  $("podium").replaceChildren(...standings.slice(0, 3).map((r) => el("li", { class: `place-${r.rank}` },
    `#${r.rank}`, el("span", { class: "name" }, r.display_name), el("span", { class: "score" }, `${r.score} pts`))));
}

// The answers to one question as horizontal bars, drawn here (inline SVG): every choice, or for a typed
// question the right answers and the most common wrong ones; the right answer's bar is green.
function distributionChart(q) {
  const rows = q.kind === "multiple_choice"
    ? q.choices.map((c) => ({ label: c.text, count: c.count, right: c.correct }))
    : [{ label: `right: ${q.correct_answer}`, count: q.correct, right: true }, // every accepted spelling
       ...(q.wrong_answers || []).map((w) => ({ label: w.answer, count: w.count, right: false }))];
  const ROW = 26, LABEL = 190, BAR = 330, top = Math.max(1, ...rows.map((r) => r.count));
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${LABEL + BAR + 50} ${rows.length * ROW}`, role: "img",
    "aria-label": `Answers to question ${q.question_id}`, "data-question": q.question_id });
  rows.forEach((r, i) => {
    const y = i * ROW;
    const label = r.label.length > 26 ? `${r.label.slice(0, 25)}…` : r.label;
    chart.append(svg("text", { x: 0, y: y + 17, class: `label${r.right ? " right" : ""}` }, `${r.right ? "✓ " : ""}${label}`));
    chart.append(svg("rect", { x: LABEL, y: y + 4, height: ROW - 8, width: Math.max(2, (BAR * r.count) / top), rx: 3,
      class: `bar${r.right ? " right" : ""}`, "data-count": r.count }));
    chart.append(svg("text", { x: LABEL + Math.max(2, (BAR * r.count) / top) + 6, y: y + 17 }, String(r.count)));
  });
  return chart;
}

function renderReport(report) {
  $("report-summary").textContent = `· ${report.player_count} player${report.player_count === 1 ? "" : "s"} · ${report.question_count} questions`;
  $("report-questions").replaceChildren(...report.questions.map((q) => el("div", { class: "report-q" },
    el("p", {}, el("strong", {}, `Q${q.question_id}. `), q.prompt),
    el("p", { class: "stats" }, q.opened
      ? `accuracy ${percent(q.accuracy)} · median time ${seconds(q.median_answer_ms)} · ${q.answered} answer${q.answered === 1 ? "" : "s"} · answer: ${q.correct_answer}`
      : "not asked"),
    distributionChart(q))));
  const tbody = $("report-players").tBodies[0];
  tbody.replaceChildren(...report.players.map((p) => el("tr", {},
    el("td", { class: "rank" }, `#${p.rank}`), el("td", {}, p.display_name), el("td", {}, String(p.score)),
    el("td", {}, `${p.correct} / ${p.answered}`), el("td", {}, seconds(p.average_answer_ms)), el("td", {}, String(p.longest_streak)))));
  if (!report.players.length) tbody.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "Nobody played")));
  show("report");
}

async function loadReport(g) {
  try {
    const report = await api("GET", `/quizzes/${g.pin}/report`);
    if (game === g) renderReport(report);
  } catch (err) { notice(explain(err, g.pin)); }
}

// One table of the report as a CSV file: fetched with the bearer token (a plain link cannot send it),
// then handed to the browser as a Blob download. Returns the file name and the Blob.
async function downloadCsv(table) {
  const g = game;
  const path = `/quizzes/${g.pin}/report?table=${encodeURIComponent(table)}`;
  const get = async (token) => fetch(path, { headers: { Accept: "text/csv", Authorization: `Bearer ${token}` } });
  let response = await get(await freshToken());
  if (response.status === 401) { await refresh(); response = await get(session.access_token); }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, body);
  }
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const filename = match ? match[1] : `quiz-${g.pin}-${table}.csv`;
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { filename, blob };
}

$("download-csv").addEventListener("click", async () => {
  try { await downloadCsv($("csv-table").value); } catch (err) { notice(explain(err, game && game.pin)); }
});

$("play-again").addEventListener("click", async () => {
  const g = game;
  try {
    const again = await api("POST", `/quizzes/${g.pin}/again`);
    await startGame(again.quiz_id, "host");
    notice(`New quiz ${again.quiz_id} — players join with this PIN.`, "info");
  } catch (err) { notice(explain(err, g.pin)); }
});

async function loadReview(g) {
  let results;
  try { results = (await api("GET", "/users/me/results")).results; } catch (err) { return notice(explain(err, g.pin)); }
  if (game !== g) return;
  const mine = results.find((r) => r.quiz_id === g.pin);
  if (!mine) return;
  const words = mine.missed_words;
  $("review-summary").textContent = words.length
    ? `You finished #${mine.rank} of ${mine.player_count}. ${words.length} word${words.length === 1 ? "" : "s"} to practise:`
    : `You finished #${mine.rank} of ${mine.player_count} and missed nothing — well done!`;
  $("missed-words").replaceChildren(...words.map((w) => el("li", {},
    el("span", {}, `${w.prompt} `), el("span", { class: "right" }, w.correct_answer),
    el("span", { class: "yours" }, w.your_answer === null ? " (not answered)" : ` (you: ${w.your_answer})`))));
  show("review");
}

// ------------------------------------------------------------------------------------------- start

bindTabs($("auth-view"));
bindTabs($("home-view").querySelector("section.card"));
addQuestion("multiple_choice");
const pinFromUrl = new URLSearchParams(location.search).get("pin");
if (pinFromUrl) $("join-form").pin.value = normalisePin(pinFromUrl);
render();
