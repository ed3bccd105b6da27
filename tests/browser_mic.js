// Test microphone for the browser test: the page's getUserMedia gets Chromium's fake camera, and
// an audio track the test plays recordings into *when an event calls for it* (window.testMic.say),
// instead of a fixed-time file that a slow machine reaches too early or too late.
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const video = constraints.video ? await real({ video: constraints.video }) : null;
    const ctx = new AudioContext({ sampleRate: 16000 });
    const dest = ctx.createMediaStreamDestination();
    const hum = ctx.createConstantSource();  // keeps the track running between utterances
    hum.offset.value = 0;
    hum.connect(dest);
    hum.start();
    window.testMic = {
      said: [],
      // base64 PCM16 mono 16 kHz -> played into the mic track now; returns its duration
      say(b64) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const pcm = new Int16Array(bytes.buffer);
        const buf = ctx.createBuffer(1, pcm.length, 16000);
        const ch = buf.getChannelData(0);
        for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
        const src = ctx.createBufferSource();
        src.buffer = buf;
        src.connect(dest);
        src.start();
        this.said.push(performance.now());
        return buf.duration;
      },
    };
    return new MediaStream([...(video ? video.getVideoTracks() : []), ...dest.stream.getAudioTracks()]);
  };
})();
