"""The one base of every error a user may see: catch `VaeError` and show its message.

Each module keeps its own subclass (ConfigError, CheckpointError, DataError, ...) so a caller that cares can tell
them apart, and each also keeps the built-in base it had (ValueError, RuntimeError, KeyError, PermissionError), so
older `except ValueError` code still catches it. A page or the CLI that only shows the message catches VaeError once.
"""

from __future__ import annotations


class VaeError(Exception):
    """An error whose message is meant for the user: it says what is wrong and, where it can, what to do."""
