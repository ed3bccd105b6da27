"""Sample-format helpers shared by perception, TTS and the server."""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased), float32 in and out."""
    x = np.asarray(samples, dtype=np.float32)
    if src_rate == dst_rate or len(x) == 0:
        return x
    g = gcd(int(src_rate), int(dst_rate))
    return resample_poly(x, dst_rate // g, src_rate // g).astype(np.float32)


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """Any int/float PCM, (n,) or (n, channels), to mono float32 in [-1, 1]."""
    x = np.asarray(samples)
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    elif x.dtype.kind == "u":
        info = np.iinfo(x.dtype)
        x = (x.astype(np.float32) - (info.max + 1) / 2) / ((info.max + 1) / 2)
    else:
        x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n, channels), got shape {x.shape}")
    return x


def float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def pcm16_to_float(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise ValueError("PCM16 data must have an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
