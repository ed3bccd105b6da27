"""pipecat's OpenAI Realtime service with omnilive as its model: a typed question, then a spoken one.

pipecat-ai 1.14 pins soundfile, soxr and protobuf older than omnilive's own pins, so it cannot share
omnilive's environment and is not in the test suite; run this from a venv of its own against a
running ``omnilive serve`` (README, "Use from the OpenAI SDK, pipecat or LiveKit"):

    python3 -m venv /tmp/pc && /tmp/pc/bin/pip install "pipecat-ai[openai]==1.14.0"
    /tmp/pc/bin/python scripts/check_pipecat.py http://127.0.0.1:8000 question.wav

``question.wav``: a spoken question, mono PCM16 at 24 kHz (``flite -voice slt -t "..." -o q.wav`` then
``sox q.wav -r 24000 question.wav``). Exits 1 unless both answers came back as audio and text.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
import wave

from pipecat.frames.frames import (EndFrame, InputAudioRawFrame, LLMRunFrame, LLMTextFrame, TranscriptionFrame,
                                   TTSAudioRawFrame, TTSStoppedFrame)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.workers.runner import WorkerRunner


class Heard(FrameProcessor):
    """The user's transcripts, which the service sends upstream to the user aggregator."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[str] = []

    async def process_frame(self, frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self.heard.append(frame.text)
        await self.push_frame(frame, direction)


class Collector(FrameProcessor):
    """Each answer's audio bytes and text, as pipecat hands them on."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[dict] = [{"audio": 0, "text": ""}]
        self.done = asyncio.Event()

    async def process_frame(self, frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.answers[-1]["audio"] += len(frame.audio)
        elif isinstance(frame, LLMTextFrame):
            self.answers[-1]["text"] += frame.text
        elif isinstance(frame, TTSStoppedFrame) and self.answers[-1]["audio"]:
            self.answers.append({"audio": 0, "text": ""})
            self.done.set()
        await self.push_frame(frame, direction)


async def main(base: str, wav_path: str) -> int:
    req = urllib.request.Request(base + "/api/sessions", method="POST")
    token = json.load(urllib.request.urlopen(req))["token"]
    llm = OpenAIRealtimeLLMService(api_key=token, base_url=base.replace("http", "ws", 1) + "/v1/realtime",
                                   settings=OpenAIRealtimeLLMService.Settings(model="omnilive"))
    context = LLMContext(messages=[{"role": "user", "content": "What is the capital of France?"}])
    pair = LLMContextAggregatorPair(context)
    heard, collector = Heard(), Collector()
    task = PipelineWorker(Pipeline([pair.user(), heard, llm, collector, pair.assistant()]))
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(task)
    running = asyncio.create_task(runner.run())
    await task.queue_frames([LLMRunFrame()])
    await asyncio.wait_for(collector.done.wait(), 60)
    collector.done.clear()

    with wave.open(wav_path) as w:
        assert w.getframerate() == 24000 and w.getnchannels() == 1 and w.getsampwidth() == 2, "24 kHz mono PCM16"
        pcm = w.readframes(w.getnframes()) + bytes(2 * 24000)  # and a second of silence: the turn ends
    step = 480 * 2  # 20 ms, as a transport sends
    for i in range(0, len(pcm), step):
        await task.queue_frame(InputAudioRawFrame(audio=pcm[i:i + step], sample_rate=24000, num_channels=1))
        await asyncio.sleep(0.02)
    await asyncio.wait_for(collector.done.wait(), 60)
    await task.queue_frame(EndFrame())
    await running
    answers = [a for a in collector.answers if a["audio"]]
    print(json.dumps({"heard": heard.heard, "answers": answers}, ensure_ascii=False))
    return 0 if len(answers) == 2 and all(a["text"] for a in answers) and heard.heard else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1].rstrip("/"), sys.argv[2])))
