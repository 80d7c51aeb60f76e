"""Parsing of WeChat push XML: a hardened parse first, then wechatpy's typed message.

Every body is parsed by defusedxml with DTDs forbidden before anything else sees it, so
XXE, billion-laughs and any ``<!DOCTYPE>`` are refused; only then does wechatpy's
``parse_message`` (plain xmltodict, which would expand entities) run on the same text,
which by then is known to hold no DTD.

Fields are flattened to ``{name: text}``: top-level elements by name, nested ones by a
dotted path (``ScanCodeInfo.ScanType``), repeated siblings numbered
(``SubscribeMsgPopupEvent.List.0.TemplateId``), so nothing a push carries is lost.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from wechatpy import parse_message
from wechatpy.messages import BaseMessage

from connector import untrusted_xml

__all__ = ["MalformedPushError", "Message", "parse_fields", "parse_push"]

# wechatpy's base class of typed messages, named here so that code outside this package
# can annotate with it without importing wechatpy.
Message = BaseMessage

# Real pushes nest at most 4 levels below <xml> (MASSSENDJOBFINISH); the cap keeps a
# hostile body of 10,000 nested tags from exhausting the recursion limit.
MAX_DEPTH = 8


class MalformedPushError(ValueError):
    """The body is not a WeChat push: not XML, a DTD, wrong root, or missing MsgType."""


def parse_fields(xml_text: str) -> dict[str, str]:
    """The flattened text fields of a push body (or of a safe-mode envelope).

    Raises:
        MalformedPushError: not well-formed XML, any DOCTYPE/ENTITY, a root other than
            ``<xml>``, a repeated top-level field, or nesting deeper than MAX_DEPTH.
    """
    root = untrusted_xml.parse(xml_text, MalformedPushError)
    if root.tag != "xml":
        raise MalformedPushError(f"root element is <{root.tag}>, expected <xml>")
    fields: dict[str, str] = {}
    tops: set[str] = set()
    for child in root:
        if child.tag in tops:
            # wechatpy would see a list here and our fields a single value: refuse rather
            # than let two parsers disagree about who sent the push.
            raise MalformedPushError(f"field {child.tag} appears more than once")
        tops.add(child.tag)
        _flatten(child, child.tag, fields, 1)
    return fields


def _flatten(element: Element, path: str, fields: dict[str, str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MalformedPushError(f"XML nested deeper than {MAX_DEPTH} levels")
    children = list(element)
    if not children:
        # xmltodict (wechatpy) strips surrounding whitespace too; keep both views equal.
        fields[path] = (element.text or "").strip()
        return
    counts: dict[str, int] = {}
    for child in children:
        counts[child.tag] = counts.get(child.tag, 0) + 1
    seen: dict[str, int] = {}
    for child in children:
        name = f"{path}.{child.tag}"
        if counts[child.tag] > 1:
            name = f"{name}.{seen.get(child.tag, 0)}"
            seen[child.tag] = seen.get(child.tag, 0) + 1
        _flatten(child, name, fields, depth + 1)


def parse_push(xml_text: str) -> tuple[dict[str, str], Message]:
    """The fields and the typed wechatpy message of a (decrypted) push.

    Unknown message and event types come back as ``wechatpy.messages.UnknownMessage``;
    they are valid pushes, not errors.

    Raises:
        MalformedPushError: as :func:`parse_fields`, or a push wechatpy cannot type
            (no MsgType, or a field where it expects text).
    """
    fields = parse_fields(xml_text)
    try:
        message = parse_message(xml_text)
    except KeyError as exc:
        raise MalformedPushError(f"push has no {exc.args[0]}") from None
    except Exception as exc:  # untrusted input: any failure inside wechatpy is a bad push
        raise MalformedPushError(f"wechatpy cannot parse the push: {type(exc).__name__}") from None
    if message is None:  # parse_message returns None for empty input
        raise MalformedPushError("empty push")
    return fields, message
