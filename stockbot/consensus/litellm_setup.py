"""litellm, imported once and configured so that it never reaches the internet on its own.

Its own module (not ``llm``) because ``structured`` asks litellm about a model's capabilities
and ``llm`` builds on ``structured``: both import this instead of each other.
"""

from __future__ import annotations

import os
from types import ModuleType

_LITELLM: ModuleType | None = None


def load_litellm() -> ModuleType:
    """Import and configure litellm once, so that it never reaches the internet on its own."""
    global _LITELLM
    if _LITELLM is None:
        # Must be set before the import: otherwise litellm fetches its price map from GitHub.
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.suppress_debug_info = True
        litellm.turn_off_message_logging = True
        for attr in ("callbacks", "success_callback", "failure_callback", "input_callback",
                     "_async_success_callback", "_async_failure_callback"):
            if isinstance(getattr(litellm, attr, None), list):
                setattr(litellm, attr, [])
        if hasattr(litellm, "telemetry"):
            litellm.telemetry = False
        try:
            # The openai SDK imports its resource classes on the first request (~0.5 s): pay it here,
            # at build time, not inside the first vote's timeout.
            import openai.resources  # noqa: F401
        except ImportError:  # pragma: no cover - openai ships with litellm
            pass
        _LITELLM = litellm
    return _LITELLM


__all__ = ["load_litellm"]
