// Camera and microphone: PCM16 16 kHz blocks and one JPEG a second, handed to `send(kind, t, blob)`
// while a connection is open; `onLevel(0..1)` feeds the microphone meter.
export const AUDIO_IN = 1, FRAME_IN = 2;
const FPS = 1;

export class Capture {
  constructor(preview, onLevel) {
    this.preview = preview;
    this.onLevel = onLevel;
    this.send = null;  // (kind, payload) => void, set while connected
    this.media = this.ctx = this.timer = null;
  }

  get on() { return this.media !== null; }

  async open({ camera, mic } = {}) {
    this.media = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, ...(mic ? { deviceId: { exact: mic } } : {}) },
      video: { width: 640, height: 360, ...(camera ? { deviceId: { exact: camera } } : {}) },
    });
    this.preview.srcObject = this.media;
    // a 16 kHz context resamples for us; the worklet hands over PCM16 blocks
    this.ctx = new AudioContext({ sampleRate: 16000 });
    await this.ctx.audioWorklet.addModule("/static/capture-worklet.js");
    const node = new AudioWorkletNode(this.ctx, "capture");
    node.port.onmessage = (e) => {
      this.onLevel(e.data.level);
      if (this.send) this.send(AUDIO_IN, e.data.pcm);
    };
    this.ctx.createMediaStreamSource(this.media).connect(node);
    const canvas = document.createElement("canvas");
    this.timer = setInterval(() => {
      const v = this.preview;
      if (!v.videoWidth || !this.send) return;
      canvas.width = v.videoWidth; canvas.height = v.videoHeight;
      canvas.getContext("2d").drawImage(v, 0, 0);
      const send = this.send;
      canvas.toBlob((b) => b && send(FRAME_IN, b), "image/jpeg", 0.8);
    }, 1000 / FPS);
  }

  close() {
    clearInterval(this.timer);
    if (this.ctx) this.ctx.close();
    if (this.media) this.media.getTracks().forEach((t) => t.stop());
    this.preview.srcObject = null;
    this.media = this.ctx = this.timer = null;
    this.onLevel(0);
  }
}

// The cameras and microphones to choose from (labels appear once access was granted).
export async function devices() {
  const all = await navigator.mediaDevices.enumerateDevices();
  return { cameras: all.filter((d) => d.kind === "videoinput"), mics: all.filter((d) => d.kind === "audioinput") };
}
