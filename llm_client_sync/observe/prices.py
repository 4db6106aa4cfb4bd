"""Prices: the dated price data in the model profiles (``models.PRICES_AS_OF``), and how users
override it. Nothing is fetched from the network: prices change when you say so.

    >>> set_prices("gpt-5-nano", input=0.05, cached_input=0.005, output=0.40)   # doctest: +SKIP
    >>> load_prices("prices.json")   # {"as_of": "...", "models": {"gpt-5-nano": {"input": ...}}}  # doctest: +SKIP

Overrides replace the registered profile, so they apply to providers created afterwards.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any, Mapping

from ..errors import ConfigurationError
from ..models import PRICES_AS_OF, ModelProfile, get_profile, list_profiles, register_profile

__all__ = ["PRICES_AS_OF", "load_prices", "price_table", "set_prices"]

# price-file field -> ModelProfile field (USD per 1M tokens; batch_discount a fraction)
_FIELDS = {"input": "input_price", "cached_input": "cached_input_price", "output": "output_price",
           "cache_write": "cache_write_price", "batch_discount": "batch_discount"}


def set_prices(model: str | ModelProfile, *, as_of: str | None = None, **prices: float | None) -> ModelProfile:
    """Set some prices of one model (``input``, ``cached_input``, ``output``, ``cache_write`` in USD
    per 1M tokens; ``batch_discount`` a fraction) read on ``as_of`` (a date); registers and returns
    the new profile."""
    unknown = set(prices) - set(_FIELDS)
    if unknown:
        raise ConfigurationError(f"unknown price fields {sorted(unknown)}; use {sorted(_FIELDS)}")
    for name, value in prices.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ConfigurationError(f"price {name!r} of {model!r} must be a non-negative number or None, got {value!r}")
    if "batch_discount" in prices and not (isinstance(prices["batch_discount"], (int, float))
                                           and 0 <= prices["batch_discount"] <= 1):
        raise ConfigurationError(f"batch_discount of {model!r} must be a fraction in [0, 1], "
                                 f"got {prices['batch_discount']!r}")
    profile = get_profile(model)
    new = replace(profile, **{_FIELDS[k]: (float(v) if v is not None else None) for k, v in prices.items()},
                  prices_as_of=as_of or profile.prices_as_of)
    if isinstance(model, str) and profile.key != model:
        new = replace(new, key=model)  # a dated snapshot gets its own entry; the base keeps its prices
    return register_profile(new)


def load_prices(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, ModelProfile]:
    """Apply a price table: a mapping or the path of a JSON file shaped like ``price_table()``
    (``{"as_of": ..., "models": {name: {"input": ..., "output": ...}}}``). Returns the new profiles."""
    if isinstance(source, Mapping):
        data = source
    else:
        try:
            with open(source, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the price file {os.fspath(source)!r}: {exc}") from exc
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping):
        raise ConfigurationError('a price table needs a "models" object: {"models": {"gpt-5-nano": {"input": 0.05}}}')
    out = {}
    for name, prices in models.items():
        if not isinstance(prices, Mapping):
            raise ConfigurationError(f"prices of {name!r} must be an object, got {type(prices).__name__}")
        prices = dict(prices)
        out[name] = set_prices(name, as_of=prices.pop("as_of", None) or data.get("as_of"), **prices)
    return out


def price_table() -> dict[str, Any]:
    """The prices in force, as JSON-able data (edit it and give it back to ``load_prices``)."""
    return {"as_of": PRICES_AS_OF, "unit": "USD per 1M tokens",
            "models": {p.key: {**{k: getattr(p, f) for k, f in _FIELDS.items()}, "as_of": p.prices_as_of or PRICES_AS_OF}
                       for p in list_profiles()}}
