"""Request-cost estimation: how many tokens a request body reserves from a token-per-window budget."""

from __future__ import annotations

import json
from typing import Any, Mapping

__all__ = ["DEFAULT_COMPLETION_TOKENS", "request_cost"]

DEFAULT_COMPLETION_TOKENS = 4096
"""Completion tokens assumed when a request sets no max_completion_tokens/max_output_tokens/max_tokens
(capped by the profile's ``max_output_tokens``); settle() corrects it with the real usage."""


def _max_completion(body: Mapping[str, Any], profile: Any) -> int:
    for name in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    cap = getattr(profile, "max_output_tokens", None)
    if getattr(profile, "category", "chat") == "embedding":
        return 0
    return min(DEFAULT_COMPLETION_TOKENS, cap) if isinstance(cap, int) and cap > 0 else DEFAULT_COMPLETION_TOKENS


def _prompt_estimate(body: Mapping[str, Any], profile: Any) -> int:
    from ..tokens import estimate_request_tokens

    try:
        return max(int(estimate_request_tokens(body, profile)), 0)
    except Exception:  # an estimate must never break a request
        pass
    try:
        payload = {k: body[k] for k in ("messages", "input", "instructions", "tools", "prompt") if k in body}
        return len(json.dumps(payload, default=str)) // 4 + 1
    except Exception:
        return 1


def request_cost(body: Mapping[str, Any], profile: Any) -> int:
    """Tokens to reserve: estimated prompt tokens + max completion tokens (times ``n``).

    Without a max_* field the completion part is ``min(DEFAULT_COMPLETION_TOKENS,
    profile.max_output_tokens)``. Never raises.
    """
    try:
        n = body.get("n")
        n = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
        return _prompt_estimate(body, profile) + _max_completion(body, profile) * n
    except Exception:
        return 1
