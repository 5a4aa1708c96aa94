"""Refusals raised by the services and the store; the API and the CLI turn them into answers."""

from __future__ import annotations


class StoreError(Exception):
    """A request the store refuses; `message` is for the person who made it."""

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(StoreError):
    """No such object in this tenant."""


class ConflictError(StoreError):
    """The object exists already, or the change conflicts with the current state."""


class InvalidError(StoreError):
    """The input is wrong (the message says how)."""


class ForbiddenError(StoreError):
    """The actor's role does not grant the permission the action needs."""


class UnavailableError(StoreError):
    """The action cannot be done now (e.g. no active rules for the lead's category)."""
