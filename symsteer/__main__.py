"""``python -m symsteer …``: the same command as ``symsteer …``."""

from .cli import entry

entry()
