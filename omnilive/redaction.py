"""Secrets out of log lines and error texts: session tokens, passwords and API keys.

Redaction happens where a log record is made (a LogRecord factory), not in a filter on some
loggers: a logger's filters only see records created on that very logger (not on its children,
``omnilive.server.app`` under ``omnilive``), and uvicorn's dictConfig and the CLI's basicConfig
replace handlers, so a filter on a handler can be lost. A factory covers every logger and every
handler, configured before or after it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

_VALUE = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"]+)"""
_PATTERNS = [
    # scheme://user:PASSWORD@host, any scheme (an empty user too: redis://:pw@host)
    (re.compile(r"([a-z][a-z0-9+.\-]*://[^:/?#@\s]*:)[^@/?#\s]*@", re.I), r"\1***@"),
    # ?password=, libpq's password='x y', api_key: ..., "apikey": "..." (a query, a conninfo, JSON, a header)
    (re.compile(r"""((?:passw(?:or)?d|pwd|api[_-]?key|secret)["']?\s*[=:]\s*)""" + _VALUE, re.I), r"\1***"),
    # session tokens: ?token=, access_token=, the subprotocol token.<T>, "token": "..."
    (re.compile(r"""(token(?:=|\.|["']\s*:\s*))""" + _VALUE, re.I), r"\1***"),
    (re.compile(r"""(Authorization["']?\s*[:=]\s*["']?(?:(?:Bearer|Basic|Token)\s+)?)[^\s'",]+""", re.I), r"\1***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=\-]+", re.I), r"\1***"),
]
_known: set[str] = set()  # configured API keys: redacted wherever they appear, in whatever form of text


def remember_secret(secret: str | None) -> None:
    """Redact this literal (an API key from the settings) from every log line from now on."""
    if secret and len(secret) >= 4:
        _known.add(secret)


def redact(text: str) -> str:
    """``text`` without session tokens, passwords and API keys (each replaced by ``***``)."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    for secret in tuple(_known):
        text = text.replace(secret, "***")
    return text


_WHERE = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+|\[[0-9a-f:]+\](?::\d+)?|"
                    r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|\blocalhost(?::\d+)?\b|\b[\w.-]+\.[a-z]{2,}:\d+\b|"
                    r"(?<=host=)['\"]?[^\s'\",)]+['\"]?", re.I)


def public(text: str) -> str:
    """An error's text as a user may see it: no secrets, and no URL, address or port of a server
    behind this one (the full text goes to the log)."""
    return _WHERE.sub("<server>", redact(text))


_FORMATTER = logging.Formatter()


def _redacted(a: object) -> object:
    return redact(a) if isinstance(a, str) else a


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's arguments one by one (the tuple kept: uvicorn's access formatter unpacks
    it), then its message as formatted (``"token=%s"`` with the token an argument: the message is
    replaced by its redacted text), its traceback and its stack."""
    if isinstance(record.args, Mapping):
        record.args = {k: _redacted(v) for k, v in record.args.items()}
    elif record.args:
        record.args = tuple(_redacted(a) for a in record.args)
    try:
        text = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed call: logging reports it when it formats the record
        text = None
    if text is not None and (clean := redact(text)) != text:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = redact(_FORMATTER.formatException(record.exc_info))  # formatters reuse exc_text
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "redacts", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        return scrub_record(make(*args, **kwargs))

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
