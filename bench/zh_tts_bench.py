"""Chinese speech out (issue 25): how well Whisper hears each Kokoro voice back, how fast it speaks.

Every shipped Kokoro voice reads Mandarin sentences written for this bench (answers of the kind the
assistant gives, none used anywhere else); the embedded Whisper base transcribes each back with
``language="zh"``, and the character error rate (CER, punctuation and spaces removed, numerals
written as Chinese) is counted over every sentence. The first ``TUNE`` sentences chose the default
voice (``tts.voices.zh``); the other 20 were not looked at until the choice was made. Also printed:
real-time factor, and first-audio latency (the first piece the live session would synthesize, as
runtime/speaking.py's ``first_clause`` cuts it).

    .venv/bin/python bench/zh_tts_bench.py [--voices jm_kumo jf_tebukuro]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

import cn2an
import jiwer
from _common import table

TUNE = [
    "你好，我是你的助手。",
    "我刚才看到桌子上有一个杯子。",
    "大约十分钟前，你把钥匙放在门口的柜子上了。",
    "法国的首都是巴黎。",
    "我没有看清楚那是什么颜色。",
    "刚才有人敲门，然后电话响了。",
    "我看到一只猫坐在沙发上。",
    "好的，我会记住你明天下午三点开会。",
]
HELD_OUT = [
    "外面正在下雨，记得带伞。",
    "你的眼镜在厨房的窗台旁边。",
    "我看到两个人在打篮球。",
    "这本书的名字我看不清楚。",
    "五分钟前，一辆银色的汽车停在了楼下。",
    "抱歉，我没有听清你的问题。",
    "桌子上有一台笔记本电脑和一个水瓶。",
    "我不能识别画作，但是我看到了一面墙。",
    "今天早上你喝了一杯咖啡。",
    "那只狗一直在院子里跑来跑去。",
    "你说过周二要去看牙医。",
    "我看到一个穿红衣服的女孩走过去。",
    "冰箱里好像还有一些牛奶。",
    "你的手机放在床头柜上。",
    "刚才的音乐声音有点大。",
    "窗外有一棵很高的树。",
    "我记得你把背包挂在椅子上了。",
    "厨房里的水壶已经烧开了。",
    "我看到屏幕上写着欢迎光临。",
    "请稍等，我想一想再回答你。",
]
PUNCT = re.compile(r"[\s，。！？、：；,.!?:;\"'“”（）()]+")


def normalise(text: str) -> str:
    """Compare characters only: no punctuation or spaces, numerals as Chinese (三点 = 3点)."""
    try:
        text = cn2an.transform(text, "an2cn")
    except Exception:  # cn2an raises on some mixed strings; compare as written then
        pass
    return PUNCT.sub("", text)


def main() -> None:
    from omnilive.backends.registry import load_one
    from omnilive.backends.tts_kokoro import VOICES, KokoroTTS
    from omnilive.config import Settings
    from omnilive.dsp import resample
    from omnilive.events import SAMPLE_RATE
    from omnilive.runtime.speaking import first_clause

    ap = argparse.ArgumentParser()
    ap.add_argument("--voices", nargs="*", default=list(VOICES))
    args = ap.parse_args()
    settings = Settings()
    asr = load_one(settings, "asr", {})
    model = KokoroTTS.source(settings)
    rows = []
    for voice in args.voices:
        tts = KokoroTTS(model, voice, SAMPLE_RATE, settings.tts.threads)
        cer, rtf, first = {}, [], []
        for part, sentences in (("tune", TUNE), ("held_out", HELD_OUT)):
            refs, hyps = [], []
            for s in sentences:
                t0 = time.perf_counter()
                tts.synthesize(first_clause(s)[0])
                first.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                audio = tts.synthesize(s)
                rtf.append((time.perf_counter() - t0) / (len(audio) / tts.sample_rate))
                heard = asr.transcribe(resample(audio, tts.sample_rate, SAMPLE_RATE), "zh").text
                refs.append(normalise(s))
                hyps.append(normalise(heard))
                print(f"{voice:14s} {part:8s} {s} -> {heard}", flush=True)
            cer[part] = jiwer.cer(refs, hyps)
        rows.append({"voice": voice, "CER tune (8)": f"{cer['tune']:.1%}",
                     "CER held-out (20)": f"{cer['held_out']:.1%}", "RTF median": f"{statistics.median(rtf):.2f}",
                     "first piece median s": f"{statistics.median(first):.2f}",
                     "first piece max s": f"{max(first):.2f}"})
    table(rows, "Kokoro v1.0 voices reading Mandarin, heard back by Whisper base (zh)")


if __name__ == "__main__":
    main()
