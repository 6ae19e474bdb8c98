"""Method options, parsed in one place: ``KEY=VALUE`` text into values, and values checked against a method's
defaults (the CLI and the methods both use these)."""

from __future__ import annotations

from typing import Any

from vptstudy.errors import UserError


def value_from_text(text: str) -> Any:
    """A method option's value from text: true/false, an int, a float, or the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_items(items: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``KEY=VALUE`` items as RunConfig.method_options (sorted; the last of a repeated key wins)."""
    options: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"cannot read method option {item!r}", "--method-option", "write KEY=VALUE, e.g. rank=8")
        options[key.strip()] = value_from_text(text.strip())
    return tuple(sorted(options.items()))


def coerce(key: str, value: Any, default: Any, method: str) -> Any:
    """``value`` as the type of ``default``; a value of another type is a UserError."""

    def bad(kind: str) -> UserError:
        return UserError(
            f"method option {key}={value!r} of {method} is not {kind}", "--method-option", f"e.g. {key}={default}"
        )

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise bad("a whole number")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    return str(value)


def method_options(cfg: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """The run's method options over ``defaults``; an unknown key or a value of the wrong type is a UserError.
    ``cfg`` needs ``method`` and ``method_options`` (a RunConfig)."""
    given = dict(cfg.method_options)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(f"{k} (default {v})" for k, v in defaults.items()) or "none"
        raise UserError(
            f"unknown method option {unknown[0]!r} for method {cfg.method}", "--method-option", f"its options: {known}"
        )
    return {
        key: coerce(key, given[key], default, cfg.method) if key in given else default
        for key, default in defaults.items()
    }
