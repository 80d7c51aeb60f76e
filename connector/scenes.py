"""The QR scene string: which Salesforce record a code stands for, and which channel.

A scene is ``<prefix><key>[<separator><channel>]``: ``sfc_7015g00000AbCdE`` is the
Campaign ``7015g00000AbCdE``; ``sfc_7015g00000AbCdE.store-042`` is the same Campaign's
code for the channel ``store-042`` (one code per store or branch, all for one campaign).
The prefix says what kind of record the key is (``sfc_`` Campaigns by default; the
mapping's ``qr:`` section adds others, such as ``sfp_`` for Products). A code made again
on purpose (``connector qr create --force``) carries its version after ``~``:
``sfc_7015g00000AbCdE.~2``, ``sfc_7015g00000AbCdE.store-042~2`` — the same campaign and
channel. WeChat allows 64 characters in a permanent code's scene string. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SEPARATOR = "."  # never in a record Id; rare in the values a Campaign field holds
VERSION_MARK = "~"  # before a re-made code's version number, at the end of the scene
MAX_SCENE = 64  # WeChat's limit for scene_str


@dataclass(frozen=True)
class Scene:
    """A parsed scene: ``prefix`` (as configured), ``key`` (a record Id, or a field's
    value) and ``channel`` (None when the code is not a channel code)."""

    prefix: str
    key: str
    channel: str | None = None
    version: int = 1

    def __str__(self) -> str:
        tail = (self.channel or "") + (f"{VERSION_MARK}{self.version}"
                                       if self.version > 1 else "")
        return make_scene(self.prefix, self.key, tail or None)


def make_scene(prefix: str, key: str, channel: str | None = None) -> str:
    """The scene string of ``key`` (and ``channel``) under ``prefix``.

    Raises:
        ValueError: the key or channel holds the separator, or the scene is too long.
    """
    if not key or SEPARATOR in key:
        raise ValueError(f"a scene key must be non-empty and free of {SEPARATOR!r}: {key!r}")
    if channel is not None and (not channel or SEPARATOR in channel):
        raise ValueError(f"a channel must be non-empty and free of {SEPARATOR!r}: {channel!r}")
    scene = prefix + key + (SEPARATOR + channel if channel else "")
    if len(scene) > MAX_SCENE:
        raise ValueError(f"scene {scene!r} is {len(scene)} characters; WeChat takes "
                         f"{MAX_SCENE} at most — use a shorter channel or prefix")
    return scene


def parse_scene(scene: str | None, prefixes: Iterable[str]) -> Scene | None:
    """The scene under the longest of ``prefixes`` it starts with, or None (no scene, or
    one the bridge did not make: a code made elsewhere is not an error)."""
    if not scene:
        return None
    prefix = max((p for p in prefixes if scene.startswith(p)), key=len, default=None)
    if prefix is None or len(scene) == len(prefix):
        return None
    key, _, tail = scene[len(prefix):].partition(SEPARATOR)
    if not key:
        return None
    channel, version = split_version(tail)
    return Scene(prefix, key, channel, version)


def split_version(tail: str | None) -> tuple[str | None, int]:
    """(channel, version) of what follows the separator: ``store-042~3`` →
    ``("store-042", 3)``, ``~2`` → ``(None, 2)``, ``store-042`` → ``("store-042", 1)``."""
    if not tail:
        return None, 1
    channel, mark, version = tail.rpartition(VERSION_MARK)
    if not mark or not version.isdigit() or version.startswith("0"):
        return tail, 1
    return channel or None, int(version)
