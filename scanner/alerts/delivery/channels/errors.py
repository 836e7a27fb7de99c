"""The one error a channel raises: it says whether trying again can help."""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable

    @classmethod
    def retry(cls, message: str) -> DeliveryError:
        return cls(message, retryable=True)

    @classmethod
    def permanent(cls, message: str) -> DeliveryError:
        return cls(message, retryable=False)
