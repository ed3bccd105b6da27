"""omnilive: a live audio-visual assistant with long memory (IXC2.5-OmniLive design)."""

__version__ = "0.1.0"
