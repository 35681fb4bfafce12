"""A wrapper that keeps the API key out of every repr, str, log line and error message."""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """Holds a secret string. ``str()``/``repr()`` never show it; only ``.reveal()`` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("the API key is empty")
        self._value = value.strip()

    def reveal(self) -> str:
        """The secret itself: only for the Authorization header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple:  # never pickled into a file by accident
        raise TypeError("Secret cannot be pickled")
