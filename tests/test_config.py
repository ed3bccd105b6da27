import pytest
from pydantic import ValidationError

from omnilive.config import load_settings


def test_defaults_select_embedded_models():
    s = load_settings()
    assert (s.vad.backend, s.asr.model, s.visual.backend, s.llm.model, s.tts.voice) == (
        "silero", "base", "conse", "qwen2.5-1.5b", "joe")


def test_environment_overrides_file(tmp_path, monkeypatch):
    cfg = tmp_path / "omnilive.toml"
    cfg.write_text('[asr]\nmodel = "tiny.en"\nlanguage = "en"\n[runtime]\nvideo_fps = 2.0\n')
    s = load_settings(cfg)
    assert (s.asr.model, s.asr.language, s.runtime.video_fps) == ("tiny.en", "en", 2.0)
    monkeypatch.setenv("OMNILIVE_RUNTIME__VIDEO_FPS", "0.5")
    s = load_settings(cfg)
    assert s.runtime.video_fps == 0.5 and s.asr.model == "tiny.en"


def test_invalid_values_are_rejected_with_the_field_named(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[vad]\nthreshold = 3.0\n")
    with pytest.raises(ValidationError, match="threshold"):
        load_settings(cfg)
    cfg.write_text("[asr]\nmodle = 'base'\n")  # a typo must not be silently ignored
    with pytest.raises(ValidationError, match="modle"):
        load_settings(cfg)
