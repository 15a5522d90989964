"""Resource patterns: unit IDs in which ``*`` stands for any run of characters.

``*`` matches any run, ``/`` included and the empty run too, and every other
character stands for itself: ``dev/*`` matches ``dev/app`` and ``dev/a/b`` but
not ``dev`` (the ``/`` is literal), and ``dev.app`` does not match ``devXapp``.
The reference turned patterns into unescaped regular expressions, so ``.``
matched anything; this module uses no regular expressions at all.

A pattern is split at its stars into literal pieces. The first piece must
start the resource, the last must end it, and the ones between must appear in
order in what is left; taking each at its leftmost place is always right,
because a star absorbs whatever a later choice would have skipped. Each step
is one ``str.find``, so a match costs about the resource's length times the
number of stars, with no backtracking however many stars a pattern has.

A ``PatternSet`` answers "does any of these patterns match?" for the bulk
filter of unit lists: exact IDs in a set, ``prefix*`` and ``*suffix`` patterns
in one C-level ``startswith``/``endswith`` call each, and only the rest
piece by piece.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import frozen

STAR = "*"


@frozen
class Pattern:
    """A compiled resource pattern. ``middle`` holds the non-empty pieces
    between the first and the last star (``a**b`` is the same as ``a*b``)."""

    text: str
    head: str
    middle: tuple[str, ...]
    tail: str
    starred: bool

    def matches(self, resource: str) -> bool:
        if not self.starred:
            return resource == self.text
        end = len(resource) - len(self.tail)
        if end < len(self.head) or not (
            resource.startswith(self.head) and resource.endswith(self.tail)
        ):
            return False
        at = len(self.head)
        for piece in self.middle:
            found = resource.find(piece, at, end)
            if found < 0:
                return False
            at = found + len(piece)
        return True


def compile_pattern(text: str) -> Pattern:
    """``text`` split at its stars, ready to match."""
    pieces = text.split(STAR)
    if len(pieces) == 1:
        return Pattern(text=text, head=text, middle=(), tail="", starred=False)
    return Pattern(
        text=text,
        head=pieces[0],
        middle=tuple(p for p in pieces[1:-1] if p),
        tail=pieces[-1],
        starred=True,
    )


def matches(pattern: str, resource: str) -> bool:
    """Whether ``resource`` matches ``pattern`` (see the module docstring)."""
    return compile_pattern(pattern).matches(resource)


class PatternSet:
    """Many patterns, asked together whether any matches a resource."""

    __slots__ = ("_exact", "_general", "_match_all", "_prefixes", "_suffixes")

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        exact: set[str] = set()
        prefixes: set[str] = set()
        suffixes: set[str] = set()
        general: dict[str, Pattern] = {}
        for p in patterns:
            if not p.starred:
                exact.add(p.text)
            elif p.middle:
                general[p.text] = p
            elif not p.tail:
                prefixes.add(p.head)  # "prefix*", and "*" itself (prefix "")
            elif not p.head:
                suffixes.add(p.tail)
            else:
                general[p.text] = p
        self._match_all = "" in prefixes
        self._exact = frozenset(exact)
        self._prefixes = tuple(sorted(prefixes))
        self._suffixes = tuple(sorted(suffixes))
        self._general = tuple(general.values())

    @property
    def empty(self) -> bool:
        return not (self._exact or self._prefixes or self._suffixes or self._general)

    @property
    def matches_everything(self) -> bool:
        return self._match_all

    def any_match(self, resource: str) -> bool:
        if self._match_all or resource in self._exact:
            return True
        if self._prefixes and resource.startswith(self._prefixes):
            return True
        if self._suffixes and resource.endswith(self._suffixes):
            return True
        return any(p.matches(resource) for p in self._general)
