"""Model backends behind small typed interfaces (base.py), selected by configuration (registry.py)."""

from .base import ModelUnavailable
from .registry import CAPABILITIES, Models, load_models, probe

__all__ = ["CAPABILITIES", "ModelUnavailable", "Models", "load_models", "probe"]
