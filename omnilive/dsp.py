"""Sample-format helpers shared by perception, TTS and the server."""

from __future__ import annotations

import numpy as np
import soxr


class AudioFormatError(ValueError):
    """Input that is not usable audio (wrong type, shape, rate or values); the message says which."""


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """High-quality one-shot resampling (libsoxr), float32 in and out."""
    x = np.asarray(samples, dtype=np.float32)
    if src_rate == dst_rate or len(x) == 0:
        return x
    return soxr.resample(x, src_rate, dst_rate).astype(np.float32, copy=False)


class StreamResampler:
    """Resamples a live stream chunk by chunk without clicks at chunk borders (soxr keeps state)."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self._stream = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32") if src_rate != dst_rate else None

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return samples if self._stream is None else self._stream.resample_chunk(samples)


def to_mono_float(samples: object, sample_rate: int = 16_000) -> np.ndarray:
    """Any int/float PCM, (n,) or (n, channels), to mono float32 in [-1, 1]; rejects non-audio."""
    if not isinstance(sample_rate, (int, np.integer)) or not 4_000 <= sample_rate <= 384_000:
        raise AudioFormatError(f"sample rate must be 4000-384000 Hz, got {sample_rate!r}")
    if not isinstance(samples, np.ndarray):
        raise AudioFormatError(f"audio must be a numpy array, got {type(samples).__name__}")
    x = samples
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    elif x.dtype.kind == "u":
        half = (np.iinfo(x.dtype).max + 1) / 2
        x = (x.astype(np.float32) - half) / half
    elif x.dtype.kind == "f":
        x = x.astype(np.float32, copy=False)
    else:
        raise AudioFormatError(f"audio samples must be integers or floats, got dtype {x.dtype}")
    if x.ndim == 2 and x.shape[1] <= 8:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise AudioFormatError(f"audio must be (n,) or (n, channels<=8), got shape {samples.shape}")
    if not np.all(np.isfinite(x)):
        raise AudioFormatError("audio contains NaN or infinite values")
    if x.size and np.abs(x).max() > 64.0:
        raise AudioFormatError("float audio must be in [-1, 1] (got values far outside; int PCM passed as float?)")
    return x


def float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def pcm16_to_float(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise AudioFormatError("PCM16 data must have an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
