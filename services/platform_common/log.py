"""JSON logging fit for CloudWatch Logs: one object per line, secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from .redact import redact, redact_text

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = redact(value, key)
        if record.exc_info:
            doc["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, separators=(",", ":"))


def configure_logging(service: str, level: str = "INFO", stream: Any = None) -> logging.Logger:
    """Route the root logger to one JSON line per record on stderr (or ``stream``)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "aiobotocore", "urllib3", "s3transfer", "httpx", "httpcore", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(service)
