"""S3's XML documents, written and read.

Answers are built with ElementTree in S3's namespace. Request bodies (the
part list of a multipart upload) come from clients, so they are parsed only
when small and free of DTDs: entity declarations are refused outright rather
than expanded, and a malformed document is S3's ``MalformedXML``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from starlette.responses import Response

from taco_http.s3api.errors import MalformedXML

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_TYPE = "application/xml"

Child = tuple[str, "str | list[Child]"]


def element(name: str, children: Iterable[Child]) -> ET.Element:
    """``<name>`` with the given children: text leaves, or nested lists."""
    node = ET.Element(name)
    _fill(node, children)
    return node


def _fill(node: ET.Element, children: Iterable[Child]) -> None:
    for name, value in children:
        child = ET.SubElement(node, name)
        if isinstance(value, str):
            child.text = value
        else:
            _fill(child, value)


def xml_response(root: ET.Element, *, headers: dict[str, str] | None = None) -> Response:
    """200 with ``root`` as an S3 document (in S3's namespace)."""
    root.set("xmlns", S3_NAMESPACE)
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return Response(body.encode(), media_type=XML_TYPE, headers=headers)


def parse_document(body: bytes, root_name: str) -> ET.Element:
    """The root element of a client's document, which must be ``root_name``
    (in S3's namespace or none); ``MalformedXML`` otherwise."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise MalformedXML("Document type declarations are not accepted.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedXML(f"The XML is not well-formed: {exc}") from None
    if local_name(root.tag) != root_name:
        raise MalformedXML(f"Expected a <{root_name}> document, not <{local_name(root.tag)}>.")
    return root


def local_name(tag: str) -> str:
    """A tag without its namespace: ``{ns}Part`` is ``Part``."""
    return tag.rpartition("}")[2]


def children_named(node: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in node if local_name(child.tag) == name]


def text_of(node: ET.Element, name: str) -> str | None:
    """The text of ``node``'s one child ``name``; ``None`` if there is none."""
    found = children_named(node, name)
    if len(found) > 1:
        raise MalformedXML(f"<{name}> is given more than once.")
    return (found[0].text or "").strip() if found else None
