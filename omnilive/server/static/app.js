// omnilive page: camera + mic -> WebSocket (PCM16 16 kHz, 1 fps JPEG); events + answer audio back.
const $ = (id) => document.getElementById(id);
const AUDIO_IN = 1, FRAME_IN = 2, AUDIO_OUT = 17;
const FPS = 1;

let ws, media, capture, frameTimer, t0;
const player = { ctx: null, next: 0, sources: [], dropTurns: new Set(), held: false };

function setStatus(s) { $("status").textContent = s; }

// What the page received and played, in order (for automation and debugging).
window.omniliveLog = [];
const note = (type, turn) => window.omniliveLog.push({ type, turn, at: performance.now() });

function packet(kind, t, payload) {
  const head = new DataView(new ArrayBuffer(9));
  head.setUint8(0, kind);
  head.setFloat64(1, t, true);
  return new Blob([head, payload]);
}

const streamTime = () => (performance.now() - t0) / 1000;

// The session token keeps this browser's memory across visits and server restarts.
async function sessionToken(fresh) {
  let token = fresh ? null : localStorage.getItem("omniliveToken");
  if (!token) {
    const r = await fetch("/api/sessions", { method: "POST" });
    token = (await r.json()).token;
    localStorage.setItem("omniliveToken", token);
  }
  return token;
}

async function openSocket() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  for (const fresh of [false, true]) {  // a token the server no longer knows: get a new one
    // the token travels as a subprotocol, not in the URL (URLs end up in logs)
    const sock = new WebSocket(url, ["omnilive", `token.${await sessionToken(fresh)}`]);
    sock.binaryType = "arraybuffer";
    const code = await new Promise((ok) => {
      sock.onopen = () => ok(0);
      sock.onclose = (e) => ok(e.code || 1006);
    });
    if (code === 0) return sock;
    if (code !== 4401) {
      const why = { 4409: "this session is open in another tab", 4403: "this page may not connect here",
                    4429: "the server is full, try again later" }[code];
      throw new Error(why || `connection failed (${code})`);
    }
  }
  throw new Error("no session");
}

async function start() {
  $("start").disabled = true;
  setStatus("starting");
  media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    video: { width: 640, height: 360 },
  });
  $("preview").srcObject = media;
  ws = await openSocket();
  ws.onmessage = onMessage;
  ws.onclose = () => { setStatus("disconnected"); stop(); };
  ws.send(JSON.stringify({ type: "config", speak: $("speak").checked }));
  t0 = performance.now();

  // Microphone: a 16 kHz context resamples for us; the worklet hands over PCM16 blocks.
  capture = new AudioContext({ sampleRate: 16000 });
  await capture.audioWorklet.addModule("/capture-worklet.js");
  const node = new AudioWorkletNode(capture, "capture");
  node.port.onmessage = (e) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(packet(AUDIO_IN, streamTime(), e.data));
  };
  capture.createMediaStreamSource(media).connect(node);

  // Camera: one JPEG per 1/FPS seconds.
  const canvas = document.createElement("canvas");
  frameTimer = setInterval(() => {
    const v = $("preview");
    if (!v.videoWidth || ws.readyState !== WebSocket.OPEN) return;
    canvas.width = v.videoWidth; canvas.height = v.videoHeight;
    canvas.getContext("2d").drawImage(v, 0, 0);
    const t = streamTime();
    canvas.toBlob((b) => b && ws.send(packet(FRAME_IN, t, b)), "image/jpeg", 0.8);
  }, 1000 / FPS);

  player.ctx = new AudioContext();
  $("stop").disabled = false;
  setStatus("listening");
}

function stop() {
  clearInterval(frameTimer);
  if (capture) capture.close();
  if (media) media.getTracks().forEach((t) => t.stop());
  if (ws && ws.readyState === WebSocket.OPEN) ws.close();
  stopPlayback();
  capture = media = null;
  $("start").disabled = false;
  $("stop").disabled = true;
  if ($("status").textContent !== "disconnected") setStatus("idle");
}

function stopPlayback() {
  player.sources.forEach((s) => { try { s.stop(); } catch (_) {} });
  player.sources = [];
  player.next = 0;
  window.omniliveAudio = { playing: false, chunks: (window.omniliveAudio || {}).chunks || 0 };
}

function play(turn, pcm) {
  if (player.dropTurns.has(turn) || !player.ctx) return note("dropped", turn);
  note("play", turn);
  const samples = new Int16Array(pcm);
  const buf = player.ctx.createBuffer(1, samples.length, 16000);
  const ch = buf.getChannelData(0);
  for (let i = 0; i < samples.length; i++) ch[i] = samples[i] / 32768;
  const src = player.ctx.createBufferSource();
  src.buffer = buf;
  src.connect(player.ctx.destination);
  const at = Math.max(player.ctx.currentTime, player.next);
  src.start(at);
  player.next = at + buf.duration;
  player.sources.push(src);
  src.onended = () => {
    player.sources = player.sources.filter((s) => s !== src);
    if (!player.sources.length) window.omniliveAudio.playing = false;
  };
  window.omniliveAudio = { playing: true, chunks: (window.omniliveAudio || {}).chunks + 1 || 1 };
}

function line(box, text, cls) {
  const p = document.createElement("p");
  p.textContent = text;
  if (cls) p.className = cls;
  $(box).appendChild(p);
  $(box).scrollTop = $(box).scrollHeight;
  return p;
}

// Speech over an answer pauses it (the queued audio waits in a suspended context) until the server
// knows whether it was an interruption (then "interrupt" drops it) or not ("answer_resumed").
function hold(on) {
  player.held = on;
  if (!player.ctx) return;
  if (on) player.ctx.suspend(); else player.ctx.resume();
}

const liveLines = new Map();
function liveLine(turn) {
  if (!liveLines.has(turn)) liveLines.set(turn, line("transcript", "", "partial live"));
  return liveLines.get(turn);
}
function dropLiveLine(turn) {
  const p = liveLines.get(turn);
  if (p) p.remove();
  liveLines.delete(turn);
}

let answerLine = null;
function onMessage(e) {
  if (typeof e.data !== "string") {
    const view = new DataView(e.data);
    if (view.getUint8(0) === AUDIO_OUT) play(view.getUint32(1, true), e.data.slice(9));
    return;
  }
  const ev = JSON.parse(e.data);
  note(ev.type, ev.type === "interrupt" ? ev.cancelled_turn : ev.turn_id);
  switch (ev.type) {
    case "speech_started":  // a partial line of an earlier turn that never got its utterance goes
      [...liveLines.keys()].filter((t) => t !== ev.turn_id).forEach(dropLiveLine);
      setStatus(player.held ? "paused: hearing you" : "hearing you");
      break;
    case "transcript_partial": {  // the words so far, replaced by the utterance when it comes
      const live = liveLine(ev.turn_id);
      live.textContent = ev.text + " …";
      break;
    }
    case "answer_paused": hold(true); setStatus("paused: hearing you"); break;
    case "answer_resumed": hold(false); setStatus("speaking"); break;
    case "interrupt":
      if (ev.cancelled_turn !== null) player.dropTurns.add(ev.cancelled_turn);
      stopPlayback();
      hold(false);
      break;
    case "utterance": {
      const tags = ev.tags.map((t) => `[${t.label}] `).join("");
      const typed = ev.source === "typed" ? "⌨ " : "";
      dropLiveLine(ev.turn_id);
      // the speaker went on after a pause taken for the end: this replaces what was heard before it
      if (ev.joins !== null) document.querySelectorAll(`#transcript p[data-turn="${ev.joins}"]`).forEach((p) => p.remove());
      // background talk is shown greyed: heard (or typed), but not taken as a question for the assistant
      const p = line("transcript", typed + tags + ev.text, ev.for_assistant || ev.command ? "" : "partial");
      p.dataset.turn = ev.turn_id;
      if (!ev.for_assistant && !ev.command) p.title = "not taken as a question for the assistant";
      setStatus(player.held ? "paused: hearing you" : window.omniliveAudio && window.omniliveAudio.playing ? "speaking" : "listening");
      break;
    }
    case "answer_delta":
      if (!answerLine || answerLine.dataset.turn != ev.turn_id) {
        answerLine = line("answer", "");
        answerLine.dataset.turn = ev.turn_id;
      }
      answerLine.textContent += ev.text;
      break;
    case "answer":
      if (ev.interrupted && answerLine) answerLine.textContent += " …";
      answerLine = null;
      break;
    case "clip": {
      const fig = document.createElement("figure");
      fig.innerHTML = `<img alt=""><figcaption></figcaption>`;
      fig.querySelector("img").src = ev.keyframe;
      fig.querySelector("figcaption").textContent = `${ev.start.toFixed(0)}s ${(ev.names || ev.labels)[0] || ""}`;
      $("timeline").appendChild(fig);
      break;
    }
    case "notice": line("answer", `Note: ${ev.message}`, "partial"); break;
    case "error": line("answer", `⚠ ${ev.message}`, "partial"); break;
  }
}

$("start").onclick = () => start().catch((err) => { setStatus(`error: ${err.message}`); $("start").disabled = false; });
$("stop").onclick = stop;
$("speak").onchange = () => {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "config", speak: $("speak").checked }));
};
$("ask-form").onsubmit = (e) => {
  e.preventDefault();
  const text = $("question").value.trim();
  if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ type: "ask", text, speak: $("speak").checked }));  // shown when the server has judged it
  $("question").value = "";
};
