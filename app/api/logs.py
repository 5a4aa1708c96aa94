"""JSON logs, one object a line, each with the request id of the request being served."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar

from flask import Flask, g, request

from app.store.secrets import public_id

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_INCOMING_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object (extra= fields included)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the `sluice` loggers' records to stderr as JSON (once per process)."""
    logger = logging.getLogger("sluice")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_sluice", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._sluice = True
        logger.addHandler(handler)
        logger.propagate = False


def init_app(app: Flask) -> None:
    """Give each request an id (or keep the caller's X-Request-Id) and log it when done."""
    configure_logging(app.config["LOG_LEVEL"])
    log = logging.getLogger("sluice.request")

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _INCOMING_ID.fullmatch(incoming) else public_id("req")
        g.request_started = time.perf_counter()
        g.request_id_token = request_id_var.set(g.request_id)

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-Id"] = request_id
            elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
            # The path only: query strings may carry lead data.
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 1),
                    "source": getattr(g.get("source"), "public_id", None),
                    "user": getattr(g.get("user"), "public_id", None),
                },
            )
        return response

    @app.teardown_request
    def _forget(exc) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.set(None)
