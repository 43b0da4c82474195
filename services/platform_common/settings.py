"""Settings from flags and env vars, one precedence rule for every service.

Precedence: an explicit command-line flag, then the ``<PREFIX>_*`` env var, then the default.
Services declare a ``pydantic_settings.BaseSettings`` subclass with an ``env_prefix``; the CLI passes only the
flags the user actually gave (``None`` means "not given").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


class ConfigError(Exception):
    """Bad configuration. ``str(err)`` is one line fit for stderr."""


def describe_validation_error(exc: ValidationError, env_prefix: str = "") -> str:
    """Turn a pydantic ValidationError into one line naming each bad field and its env var."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        env = f" ({env_prefix}{loc.upper()})" if env_prefix and loc != "settings" else ""
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}{env}: {msg}")
    return "; ".join(parts)


def load_settings(cls: type[S], flags: Mapping[str, Any] | None = None) -> S:
    """Build settings from explicit flags (``None`` values ignored) layered over env vars.

    Raises ConfigError with a one-line reason.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    prefix = str(cls.model_config.get("env_prefix", ""))
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, prefix)) from None
