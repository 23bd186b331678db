"""Reading the text files a user hands owlcap (configs, prompt files, caption files): UTF-8 or one clear error.

A file saved in another encoding (Latin-1, UTF-16 from a Windows editor) would otherwise end a command with a
``UnicodeDecodeError`` traceback that names no file. A UTF-8 byte order mark is accepted and dropped.
"""

from __future__ import annotations

from pathlib import Path

from owlcap.errors import ConfigError, DataError, os_cause


def read_user_text(path: str | Path, *, what: str = "file", error: type[Exception] = ConfigError) -> str:
    """The text of ``path``; ``error`` (``ConfigError`` or ``DataError``) names the file and the cause otherwise:
    missing, unreadable, or not UTF-8 (with the offending byte and where it is)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _error(error, path, f"{what} not readable ({os_cause(exc)})") from exc
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        cause = (
            f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        )
        raise _error(error, path, cause) from None


def _error(error: type[Exception], path: Path, cause: str) -> Exception:
    if issubclass(error, DataError):
        return error(path, cause)
    return error(f"{path}: {cause}")
