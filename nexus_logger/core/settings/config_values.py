"""Reading raw setting values: a TOML config file, or text from the environment or command line,
checked and converted to each key's type, with one clear message per mistake."""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_logger.core.errors import ConfigError
from nexus_logger.core.settings.config_fields import FIELDS_BY_NAME, Field, num_text
from nexus_logger.core.validation import has_control_chars

_KIND = {
    list: "a list of strings",
    int: "a whole number",
    float: "a number",
    str: "a string",
    bool: "true or false",
}


@dataclass(frozen=True)
class Origin:
    """Where a raw value came from: used to name it in messages and to say how to fix it."""

    label: str  # "config file /x/config.toml", "environment variable NX_DB_PATH", ...
    fix: str  # "Fix the value in the file or remove the line."
    text: bool  # True when the value is text to convert (environment, command line)

    @staticmethod
    def file(path: Path) -> Origin:
        return Origin(f"{path}", "Fix the value in the file or remove the line.", False)

    @staticmethod
    def env(var: str) -> Origin:
        return Origin(
            f"The environment variable {var}", f"Fix the value of {var} or unset it.", True
        )

    @staticmethod
    def flag(fld: Field) -> Origin:
        option = fld.flag or fld.name
        return Origin(f"The option {option}", f"Fix the value given to {option}.", True)


# Greedy up to the last "@" of the URL: a password with an unencoded "@" must not leak its tail.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)\S*(?P<at>@)")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s;&]+)", re.I)


def mask_secret(text: str) -> str:
    """Hide the password of a database URL (``scheme://user:***@host``) or DSN keyword text.

    Works on text that is not a valid URL too, because a half-typed URL in a config file is
    exactly what ends up in an error message.
    """
    if not text:
        return text
    text = _URL_PASSWORD.sub(r"\g<head>***\g<at>", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


def _fail(fld: Field, origin: Origin, problem: str) -> ConfigError:
    return ConfigError(f"{origin.label}: '{fld.name}' {problem}. {origin.fix}")


def _shown(fld: Field, value: Any) -> str:
    """The offending value for a message; never the value of a secret key."""
    if fld.secret:
        return f"a {type(value).__name__}" if not isinstance(value, str) else "that value"
    return repr(value)


def coerce(fld: Field, value: Any, origin: Origin) -> Any:
    """Convert ``value`` to the field's type, check its limits, or raise :class:`ConfigError`.

    TOML values must already have the right type (``heartbeat_seconds = "60"`` is a mistake
    worth pointing out); text from the environment or the command line is converted.
    """
    kind = _KIND[fld.type]
    try:
        if fld.type is list:
            if isinstance(value, str) and origin.text:
                # A JSON array too: NexusLIMS writes NX_IGNORE_PATTERNS that way.
                value = json.loads(value) if value.strip().startswith("[") else value
                value = re.split(r"[,;]", value) if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError
            value = [v.strip() for v in value if v.strip()]
            value = list(dict.fromkeys(value))  # drop repeats, keep order
        elif fld.type is bool:
            if isinstance(value, str) and origin.text:
                low = value.strip().lower()
                if low not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                    raise ValueError
                value = low in {"1", "true", "yes", "on"}
            elif not isinstance(value, bool):
                raise TypeError
        elif fld.type is int:
            if isinstance(value, str) and origin.text:
                value = int(value.strip())
            elif isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
        elif fld.type is float:
            if isinstance(value, str) and origin.text:
                value = float(value.strip())
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        elif fld.type is str:
            if not isinstance(value, str):
                raise TypeError
            value = value.strip()
    except (TypeError, ValueError):
        raise _fail(fld, origin, f"must be {kind}, not {_shown(fld, value)}") from None
    return _within_limits(fld, value, origin)


def _within_limits(fld: Field, value: Any, origin: Origin) -> Any:
    """``value`` (already of the field's type) when it is allowed, spelt as in FIELDS."""
    if fld.type is str and has_control_chars(value):
        hint = (
            " (in a double-quoted TOML string a backslash starts an escape such as \\n; "
            "write Windows paths in single quotes: 'C:\\data\\x.sqlite')"
            if not origin.text
            else ""
        )
        raise _fail(fld, origin, f"contains a control character{hint}")
    if fld.choices:
        # Case-insensitive; the value becomes the choice as spelt in FIELDS.
        spelt = {choice.casefold(): choice for choice in fld.choices}
        if value.strip().casefold() not in spelt:
            raise _fail(fld, origin, f"must be {fld.limits_text()}, not {_shown(fld, value)}")
        value = spelt[value.strip().casefold()]
    if fld.type in (int, float):
        low_ok = fld.minimum is None or (
            value > fld.minimum if fld.exclusive_minimum else value >= fld.minimum
        )
        high_ok = fld.maximum is None or value <= fld.maximum
        if not (low_ok and high_ok):
            raise _fail(fld, origin, f"must be {fld.limits_text()} (got {num_text(value)})")
    if fld.check is not None:
        problem = fld.check(value)
        if problem:
            raise _fail(fld, origin, f"{problem} (got {_shown(fld, value)})")
    return value


def parse_flag(key: str, raw: Any) -> Any:
    """Check and convert a command-line value for ``key`` as :func:`load_settings` would."""
    fld = FIELDS_BY_NAME[key]
    return coerce(fld, raw, Origin.flag(fld))


def _decode_toml(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")  # Notepad may add a byte-order mark; it means nothing
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: is not UTF-8 text. Save it again with the encoding UTF-8."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        hint = ""
        if "\\" in text and ("escape" in str(err).lower() or "hex" in str(err).lower()):
            hint = (
                " A backslash inside double quotes starts an escape: write Windows paths in "
                "single quotes (database = '\\\\server\\share\\nexuslims.sqlite') "
                "or with forward slashes."
            )
        elif "\\" in text and "unescaped" in str(err).lower():
            hint = (
                " Write Windows paths in single quotes "
                "(database = '\\\\server\\share\\nexuslims.sqlite') or with forward slashes."
            )
        raise ConfigError(
            f"{path}: is not valid TOML ({err}).{hint or ' Fix the line, or delete the file.'}"
        ) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read and validate a TOML config file; unknown keys and bad TOML are errors."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a config file. Give the file's path.") from None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot be read ({err.strerror}). Check the file's permissions."
        ) from None
    data = _decode_toml(path, raw)
    unknown = sorted(set(data) - set(FIELDS_BY_NAME))
    if unknown:
        key = unknown[0]
        import difflib  # only needed for this message

        close = difflib.get_close_matches(key, list(FIELDS_BY_NAME), n=1)
        if close:
            fix = f"Did you mean '{close[0]}'? Rename the key or remove the line."
        else:
            fix = f"Remove it, or use one of: {', '.join(FIELDS_BY_NAME)}."
        if isinstance(data[key], dict):
            return_msg = f"{path}: unknown section [{key}]. {fix}"
        else:
            return_msg = f"{path}: unknown key '{key}'. {fix}"
        raise ConfigError(return_msg)
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(
                f"{path}: '{key}' is written as a section [{key}]; nexus-logger has no "
                f"sections. Write it as one line at the top of the file: {key} = ..."
            )
    origin = Origin.file(path)
    return {k: coerce(FIELDS_BY_NAME[k], v, origin) for k, v in data.items()}
