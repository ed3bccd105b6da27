// Answer audio: PCM16 chunks queued back to back. Speech over an answer pauses it (the queued audio
// waits in a suspended context) until the server says it was an interruption (drop) or not (resume).
import { note } from "./log.js";

export class Player {
  constructor(onChange) {
    this.onChange = onChange;  // called when playing / held changes
    this.ctx = null;
    this.next = 0;
    this.sources = [];
    this.dropped = new Set();  // turns interrupted: late chunks of theirs are never played
    this.held = false;
    this.turn = null;  // the turn being played
    window.omniliveAudio = { playing: false, chunks: 0 };
  }

  get playing() { return this.sources.length > 0; }

  unlock() {  // an AudioContext may only start on a user gesture
    if (!this.ctx) this.ctx = new AudioContext();
    else if (this.ctx.state === "suspended" && !this.held) this.ctx.resume();
  }

  play(turn, pcm) {
    if (this.dropped.has(turn) || !this.ctx) return note("dropped", turn);
    note("play", turn);
    const samples = new Int16Array(pcm);
    const buf = this.ctx.createBuffer(1, samples.length, 16000);
    const ch = buf.getChannelData(0);
    for (let i = 0; i < samples.length; i++) ch[i] = samples[i] / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.ctx.destination);
    const at = Math.max(this.ctx.currentTime, this.next);
    src.start(at);
    this.next = at + buf.duration;
    this.sources.push(src);
    this.turn = turn;
    src.onended = () => {
      this.sources = this.sources.filter((s) => s !== src);
      if (!this.sources.length) this._changed();
    };
    window.omniliveAudio.chunks += 1;
    this._changed();
  }

  hold(on) {
    this.held = on;
    if (this.ctx) (on ? this.ctx.suspend() : this.ctx.resume());
    this._changed();
  }

  drop(turn) {
    if (turn !== null && turn !== undefined) this.dropped.add(turn);
    this.stop();
  }

  stop() {
    this.sources.forEach((s) => { s.onended = null; try { s.stop(); } catch (_) {} });
    this.sources = [];
    this.next = 0;
    if (this.held) this.hold(false);
    this._changed();
  }

  _changed() {
    window.omniliveAudio.playing = this.playing;
    this.onChange();
  }
}
