"""Exceptions that cross module boundaries."""


class UsageError(ValueError):
    """The input cannot be used (bad address, unknown profile or check id, bad flag).

    The CLI prints its message as one line and exits 2; the notebook API raises it
    (it is a ``ValueError``).
    """


class Unavailable(Exception):
    """A probe could not gather its facts; checks that need them are skipped with this reason."""


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` as an error message quotes it: at most ``limit`` characters, whatever the value."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python converts to text
        text = f"<{type(value).__name__} too long to show>"
    if len(text) <= limit:
        return text
    closing = text[0] if isinstance(value, str) else ""
    return text[: limit - 3 - len(closing)] + "..." + closing
