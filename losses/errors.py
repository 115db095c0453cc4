"""The one error type of the loss library."""

from __future__ import annotations


class LossInputError(ValueError):
    """Bad input to a loss: the message names the argument, ``.argument`` holds its name.

    The scoring API turns it into a 4xx problem body (HTTP) or INVALID_ARGUMENT (gRPC).
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")
