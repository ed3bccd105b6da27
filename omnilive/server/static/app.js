// omnilive page: wires the camera/mic (capture.js), the server link (link.js), answer playback
// (playback.js), the turns' state (turns.js) and its view (conversation.js), the memory timeline
// (timeline.js), and keeps the one status line. Protocol: docs/PROTOCOL.md.
import { t, apply, setLanguage, language, clock } from "./i18n.js";
import { Capture, devices } from "./capture.js";
import { Player } from "./playback.js";
import { Conversation } from "./conversation.js";
import { Turns } from "./turns.js";
import { Timeline } from "./timeline.js";
import { api, checkToken, newToken, openSocket, packet, replaceToken, CODES } from "./link.js";
import { note, detailOf } from "./log.js";

const $ = (id) => document.getElementById(id);
const AUDIO_OUT = 17;
const HEARING_TIMEOUT_MS = 4000;  // speech that never became an utterance (a cough) stops showing "hearing you"

const state = {
  want: "off",  // "off" | "live" (camera + mic) | "text" (typed questions only)
  link: "idle",  // "idle" | "connecting" | "open" | "reconnecting" | "offline" | "elsewhere" | "stopped"
  ws: null, t0: 0, offset: 0, origin: null, retry: 0, retryTimer: null,
  hearing: false, hearingTimer: null,
  answerShown: null,  // the turn whose answer the caption under the camera shows
};

const player = new Player(() => refresh());
const capture = new Capture($("preview"), (level) => { $("mic-level").value = level; });
const viewer = (src, caption) => {
  $("viewer").querySelector("img").src = src;
  $("viewer").querySelector("p").textContent = caption;
  $("viewer").showModal();
};
const timeline = new Timeline($("timeline"), { viewer, onForget: (s, e) => confirmThen(t("confirmDelete"), () => forget(s, e)) });
const memClock = (start) => timeline.clockOf(start);
const turns = new Turns();  // every turn's state: the one place (turns.js)
const conversation = new Conversation($("conversation"), viewer, keyframeURL, memClock);
const show = (changed, removed = []) => {  // turns whose state changed, drawn again
  for (const id of removed) conversation.remove(id);
  for (const id of changed) if (turns.get(id)) conversation.render(turns.get(id));
};

async function keyframeURL(start) {
  try { return URL.createObjectURL(await api(`/api/keyframe?t=${start}`, { json: false })); } catch (_) { return null; }
}

// ---- the status line ------------------------------------------------------------------------

function refresh() {
  let s;
  if (state.link !== "open") s = state.link;
  else if (player.held) s = "paused";
  else if (state.hearing) s = "hearing";
  else if (player.playing) s = "speaking";
  else s = turns.activity() || (state.want === "text" ? "text" : "listening");
  $("status").textContent = t(`status.${s}`);
  $("status").dataset.state = s;
  $("status-dot").dataset.state = s;
  $("speaking").hidden = !player.playing;
  const playing = player.playing ? player.turn : null;  // (none: answers whose audio played out are final)
  if (playing !== turns.playing) show(turns.played(playing));
  $("start").disabled = state.want === "live";
  $("stop").disabled = state.want === "off";
}

function hearing(on) {
  state.hearing = on;
  clearTimeout(state.hearingTimer);
  if (on) state.hearingTimer = setTimeout(() => hearing(false), HEARING_TIMEOUT_MS);
  refresh();
}

function banner(message, actions = []) {
  const b = $("banner");
  b.hidden = !message;
  b.querySelector("p").textContent = message || "";
  b.querySelector(".actions").replaceChildren(...actions.map(([label, fn]) => {
    const btn = document.createElement("button");
    btn.type = "button";
    btn.textContent = label;
    btn.onclick = () => { b.hidden = true; fn(); };
    return btn;
  }));
}

function confirmThen(message, fn) { banner(message, [[t("yes"), fn], [t("cancel"), () => {}]]); }

// ---- the connection -------------------------------------------------------------------------

const streamTime = () => (performance.now() - state.t0) / 1000;

function send(kind, payload) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(packet(kind, streamTime(), payload));
}

function sendConfig() {
  if (state.ws && state.ws.readyState === WebSocket.OPEN)
    state.ws.send(JSON.stringify({ type: "config", speak: $("speak").checked, language: $("answer-language").value }));
}

// Connects with this browser's token; a token the server does not know asks before starting anew.
async function connect({ takeover = false } = {}) {
  clearTimeout(state.retryTimer);
  state.link = state.retry ? "reconnecting" : "connecting";
  refresh();
  const known = await checkToken();
  if (known.state === "unknown") return staleToken();
  if (known.state === "offline") return retryLater();
  if (known.state === "none") await newToken();
  let ws, ready;
  try {
    [ws, ready] = await openSocket({ takeover });
  } catch (err) {
    return refused(err.code);
  }
  if (state.want === "off") return ws.close(1000);
  state.ws = ws;
  state.t0 = performance.now();
  state.offset = ready.t_offset;
  state.origin = ready.clock_origin;
  timeline.origin = ready.clock_origin;
  showWatches(ready.watches || []);
  state.retry = 0;
  state.link = "open";
  ws.onmessage = onMessage;
  ws.onclose = (e) => { if (state.ws === ws) { state.ws = null; refused(e.code); } };
  sendConfig();
  capture.send = send;
  banner("");
  refresh();
  // the history first, then what was typed before the connection: its turn must not be wiped by it
  if (takeover || !$("conversation").querySelector(".turn")) await loadHistory();
  for (const q of pending.splice(0)) ask(q);
}

function retryLater() {
  if (state.want === "off") return;
  state.retry += 1;
  state.link = state.retry > 6 ? "offline" : "reconnecting";
  const delay = Math.min(10000, 500 * 2 ** Math.min(state.retry, 5)) * (0.8 + 0.4 * Math.random());
  state.retryTimer = setTimeout(() => connect(), delay);
  refresh();
}

// Close codes the page acts on (docs/PROTOCOL.md); anything else is a dropped connection.
function refused(code) {
  capture.send = null;
  player.stop();
  show(turns.settle());  // the session ended with the link: nothing more comes for its turns
  hearing(false);
  if (state.want === "off") { state.link = "stopped"; return refresh(); }
  if (code === CODES.token || code === CODES.deleted) return staleToken();
  if (code === CODES.busy) {
    state.link = "elsewhere";
    banner(t("busy"), [[t("takeOver"), () => connect({ takeover: true })]]);
    return refresh();
  }
  if (code === CODES.takenOver) {  // the other tab has the camera now
    capture.close();
    state.want = "off";
    state.link = "elsewhere";
    banner(t("takenOver"), [[t("takeOver"), () => start({ takeover: true })]]);
    return refresh();
  }
  if (code === CODES.origin || code === CODES.full) {
    banner(t(code === CODES.origin ? "forbidden" : "full"));
    return stop();
  }
  retryLater();
}

function staleToken() {
  state.link = "idle";
  banner(t("staleToken"), [[t("startNew"), async () => { await newToken(); resetViews(); if (state.want !== "off") connect(); }],
                           [t("cancel"), () => stop()]]);
  refresh();
}

async function start({ takeover = false } = {}) {
  player.unlock();
  state.want = "live";
  refresh();
  try {
    await capture.open({ camera: $("camera").value, mic: $("mic").value });
    fillDevices();
  } catch (err) {
    banner(t("mediaFailed", err.message));
    state.want = "text";
  }
  if (state.ws) { capture.send = send; refresh(); return; }  // a text-only session goes live: same connection
  await connect({ takeover });
}

function stop() {
  state.want = "off";
  clearTimeout(state.retryTimer);
  capture.send = null;
  capture.close();
  player.stop();
  if (state.ws) state.ws.close(1000);
  state.ws = null;
  state.link = "stopped";
  refresh();
}

// ---- what the server says -------------------------------------------------------------------

function onMessage(e) {
  if (typeof e.data !== "string") {
    const view = new DataView(e.data);
    if (view.getUint8(0) === AUDIO_OUT) player.play(view.getUint32(1, true), e.data.slice(9));
    return;
  }
  const ev = JSON.parse(e.data);
  note(ev.type, ev.type === "interrupt" ? ev.cancelled_turn : ev.turn_id, detailOf(ev));
  show(...turns.reduce(ev));  // the turns' state, then their view
  switch (ev.type) {
    case "speech_started": hearing(true); break;
    case "transcript_partial":
      $("transcript").textContent = `${ev.text} …`;
      hearing(true);
      break;
    case "utterance":
      $("transcript").textContent = ev.text;
      hearing(false);
      break;
    case "answer_paused": player.hold(true); break;
    case "answer_resumed": player.hold(false); hearing(false); break;
    case "interrupt": player.drop(ev.cancelled_turn); break;
    case "answer_delta":
      if (state.answerShown !== ev.turn_id) $("answer").textContent = "";
      state.answerShown = ev.turn_id;
      $("answer").textContent += ev.text;
      break;
    case "clip": timeline.add({ ...ev, kind: "seen" }); break;
    case "heard": timeline.addHeard(ev); break;
    case "memory_state": showRemembering(ev.remembering); break;
    case "watches": showWatches(ev.items); break;
    case "alert": banner(t("alert", ev.kind === "seen" ? ev.watch : ev.text || ev.watch, memClock(ev.t))); break;
    case "memory_forgotten":
      if (ev.about) loadHistory(); else timeline.remove(ev.start ?? -Infinity, ev.end ?? Infinity);
      break;
    case "notice": banner(ev.message); break;
    case "error": if (ev.stage !== "session") banner(t("failed", ev.message)); break;
  }
  refresh();
}

// ---- typed questions, history, memory, settings ---------------------------------------------

const pending = [];  // typed before a connection was open: sent once it is
function ask(text) {
  player.unlock();
  if (!state.ws) {
    pending.push(text);
    if (state.want === "off") { state.want = "text"; connect(); }
    return;
  }
  state.ws.send(JSON.stringify({ type: "ask", text, speak: $("speak").checked }));  // shown once judged
}

const HISTORY_TRIES = 4;  // a memory being closed by the session before a reload may refuse a read for a moment

async function loadHistory(attempt = 1) {
  try {
    const [h, w] = await Promise.all([api("/api/history?limit=50"), api("/api/watches"), timeline.load()]);
    if (!state.ws) showWatches(w.items);  // (a live session sends its own)
    turns.restore(h.turns);  // (turns of this connection that arrived meanwhile stay, after the restored ones)
    conversation.renderAll(turns);
  } catch (err) {
    if (err.code === 401) return staleToken();
    note("history_failed", null, { code: err.code, message: err.message });
    if (attempt >= HISTORY_TRIES) return banner(t("failed", err.message));
    await new Promise((r) => setTimeout(r, 500 * attempt));
    return loadHistory(attempt + 1);
  }
}

function resetViews() {
  turns.clear();
  conversation.clear();
  $("timeline").replaceChildren();
  timeline.empty();
}

async function forget(start, end) {
  try {
    const r = await api(`/api/memory?start=${start}&end=${end}`, { method: "DELETE" });
    timeline.remove(start, end);
    if (!isFinite(end) || end - start > 3600) resetViews();
    banner(t("forgotten", (r.deleted.clips || 0) + (r.deleted.episodes || 0)));
  } catch (err) {
    banner(t("failed", err.message));
  }
}

// The active watches, each with a button that cancels it (also cancelled by voice: "stop watching for dogs").
function showWatches(items) {
  const list = $("watches").querySelector("ul");
  list.replaceChildren(...items.map((w) => {
    const li = document.createElement("li");
    li.dataset.watch = w.watch_id;
    li.dataset.kind = w.kind;
    const what = document.createElement("span");
    // "see: bus", "hear: telephone", "words: dentist"; a Chinese request as it was said
    what.textContent = (/[\u3400-\u9fff]/.test(w.said) ? w.said : t(`watch.${w.kind}`, w.thing)) +
      (w.expires != null ? " " + t("watchUntil", memClock(w.expires)) : "");
    what.title = w.said;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "unwatch";
    cancel.textContent = "×";
    cancel.title = cancel.ariaLabel = t("unwatch", w.said);
    cancel.onclick = () => {
      if (state.ws) state.ws.send(JSON.stringify({ type: "unwatch", watch_id: w.watch_id }));
      else api(`/api/watches/${w.watch_id}`, { method: "DELETE" }).then(() => li.remove())
        .then(() => { $("watches").hidden = !list.children.length; }, (err) => banner(t("failed", err.message)));
    };
    li.append(what, cancel);
    return li;
  }));
  $("watches").hidden = items.length === 0;
}

function showRemembering(on) {
  const b = $("remember");
  b.dataset.state = on ? "on" : "paused";
  b.setAttribute("aria-pressed", String(on));
  b.dataset.i18n = on ? "memoryOn" : "memoryPaused";
  b.textContent = t(b.dataset.i18n);
  if (!on) banner(t("pausedNote"));
  else if ($("banner").querySelector("p").textContent === t("pausedNote")) banner("");
}

// Memory time now: this session's stream time on the memory's timeline.
const memoryNow = () => state.offset + streamTime();

async function fillDevices() {
  try {
    const { cameras, mics } = await devices();
    for (const [sel, list] of [[$("camera"), cameras], [$("mic"), mics]]) {
      const keep = sel.value;
      sel.replaceChildren(new Option(t("deviceDefault"), ""), ...list.map((d, i) => new Option(d.label || `${i + 1}`, d.deviceId)));
      sel.value = keep;
    }
  } catch (_) { /* no device list: the defaults are used */ }
}

async function restartCapture() {
  if (state.want !== "live") return;
  capture.close();
  await capture.open({ camera: $("camera").value, mic: $("mic").value });
  capture.send = state.ws ? send : null;
}

function wire() {
  $("start").onclick = () => start().catch((err) => banner(t("failed", err.message)));
  $("stop").onclick = () => { if (state.ws) state.ws.send(JSON.stringify({ type: "stop" })); stop(); };
  $("ask-form").onsubmit = (e) => {
    e.preventDefault();
    const text = $("question").value.trim();
    if (text) ask(text);
    $("question").value = "";
  };
  $("search-form").onsubmit = (e) => { e.preventDefault(); timeline.search($("search").value.trim()).catch((err) => banner(t("failed", err.message))); };
  $("search").oninput = () => { if (!$("search").value) timeline.search(""); };
  $("open-settings").onclick = () => { fillDevices(); $("settings").showModal(); };
  $("speak").onchange = sendConfig;
  $("answer-language").onchange = () => { localStorage.setItem("omniliveAnswerLanguage", $("answer-language").value); sendConfig(); };
  $("camera").onchange = $("mic").onchange = () => restartCapture().catch((err) => banner(t("mediaFailed", err.message)));
  $("ui-language").value = language();
  $("ui-language").onchange = () => { setLanguage($("ui-language").value); timeline.relabel(); refresh(); };
  $("answer-language").value = localStorage.getItem("omniliveAnswerLanguage") || "auto";
  $("remember").onclick = () => {
    const on = $("remember").dataset.state !== "on";
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "config", remember: on }));
    else banner(t("notConnected"));
  };
  $("enrol").onclick = () => {  // the next thing said is in the owner's voice (memory/speakers.py)
    $("settings").close();
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify({ type: "enrol" }));
      banner(t("enrolNow"));
    } else banner(t("notConnected"));
  };
  $("forget-recent").onclick = () => {
    $("settings").close();
    const now = state.ws ? memoryNow() : 1e12;
    confirmThen(t("confirmForgetRecent"), () => forget(now - 300, now + 1));
  };
  $("new-memory").onclick = () => { $("settings").close(); confirmThen(t("confirmNew"), async () => { stop(); await replaceToken(); resetViews(); }); };
  $("forget-all").onclick = () => { $("settings").close(); confirmThen(t("confirmForget"), () => forget(-1e12, 1e12)); };
}

// On load: the conversation and memory of this browser's token come back (or it is found stale).
async function init() {
  apply();
  wire();
  refresh();
  const known = await checkToken();
  if (known.state === "ok") {
    timeline.origin = known.info.clock_origin;
    loadHistory();
    if (known.info.live) banner(t("busy"), [[t("takeOver"), () => start({ takeover: true })]]);
  } else if (known.state === "unknown") {
    staleToken();
  } else {
    timeline.empty();
  }
}

init();
