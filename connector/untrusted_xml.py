"""XML from outside — WeChat's pushes, Salesforce's Outbound Messages — parsed strictly.

defusedxml with every door shut: a DOCTYPE, an entity declaration or an external
reference refuses the document outright (no billion laughs, no XXE), and whatever does
not parse becomes the caller's own error, with the reason in words.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


def parse(text: str | bytes, error: type[ValueError]) -> Element:
    """The root element of ``text``.

    Raises:
        error: a forbidden construct (DTD, entity, external reference), or XML that is
            not well-formed; the message says which.
    """
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise error(f"forbidden XML construct: {type(exc).__name__}") from None
    except (ParseError, ValueError) as exc:
        raise error(f"not well-formed XML: {exc}") from None
