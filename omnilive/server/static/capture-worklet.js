// Runs in the audio thread: converts mic samples (the context runs at 16 kHz) to PCM16 blocks of
// 32 ms, each sent with its peak level (0..1) for the page's microphone meter.
class Capture extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Int16Array(512); this.n = 0; this.peak = 0; }
  process(inputs) {
    const ch = inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const s = Math.max(-1, Math.min(1, ch[i]));
      this.peak = Math.max(this.peak, Math.abs(s));
      this.buf[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.n === this.buf.length) {
        this.port.postMessage({ pcm: this.buf.buffer.slice(0), level: this.peak });
        this.n = 0;
        this.peak = 0;
      }
    }
    return true;
  }
}
registerProcessor("capture", Capture);
