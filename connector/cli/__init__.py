"""``connector``: every command of the bridge, the process runner and the demo.

The entry point is :func:`connector.cli.main.main` (``python -m connector.cli`` too);
each feature's commands live in a module of their own with ``register(subparsers)``.
"""

from connector.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
