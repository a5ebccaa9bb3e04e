"""Exceptions that cross module boundaries."""


class UsageError(ValueError):
    """The input cannot be used (bad address, unknown profile or check id, bad flag).

    The CLI prints its message as one line and exits 2; the notebook API raises it
    (it is a ``ValueError``).
    """


class Unavailable(Exception):
    """A probe could not gather its facts; checks that need them are skipped with this reason."""
