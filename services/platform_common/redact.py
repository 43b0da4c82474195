"""Keep secrets out of logs and API responses."""

from __future__ import annotations

import re
from typing import Any

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+")
_BEARER = re.compile(
    r"(?i)\b(bearer|token|password|passwd|secret|auth)([\"']?\s*[:=]\s*[\"']?|\s+)[^\s\"',}]+"
)
_SENSITIVE_KEYS = re.compile(r"(?i)(password|passwd|secret|token|authorization|credential|api[_-]?key)")

REDACTED = "***"


def redact_text(text: str) -> str:
    """Mask URL passwords, Secrets Manager ARNs and ``token=...``-style values in free text."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _SECRET_ARN.sub("arn:aws:secretsmanager:" + REDACTED, text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact(value: Any, key: str = "") -> Any:
    """Recursively redact a JSON-like value; values under sensitive-looking keys are masked whole."""
    if key and _SENSITIVE_KEYS.search(key) and isinstance(value, str | bytes | int) and value != "":
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
