"""The X12 interchange envelope shared by every X12 reader (the 834 census, the 820 premium
remittance): the separators an ISA declares and the file split into segments, tolerant of what
real senders send (a UTF-8 BOM, an ISA that is not fixed width, `~`, `~\\n` or newline-only
terminators, lines wrapped mid-segment, blanks and indentation around separators, Unicode line
separators between segments, and a segment whose terminator was lost before its line break)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat

from billing_core.errors import InterchangeHeaderUnreadable

__all__ = [
    "Separators",
    "chunks",
    "decode",
    "normalise",
    "normalise_with_repairs",
    "read_isa",
    "split_interchange",
]

_CHUNK = 1 << 20  # characters split at a time, so a 100 MB file never holds every segment
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not blanks or line breaks


@dataclass(frozen=True)
class Separators:
    """The delimiters an interchange declares. `segment` is the terminator character and
    `suffix` the line break a sender put after it ("" when none), kept to answer in kind."""

    element: str
    component: str
    segment: str
    repetition: str | None
    suffix: str = ""


def decode(data: bytes | str) -> str:
    """The interchange as text: UTF-8, else Latin-1; a byte-order mark and leading blanks go.
    Unicode line and paragraph separators (U+2028, U+2029: a state feed puts them between
    segments where others put a newline) become newlines, which are line breaks here too."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # X12's extended set, whatever the sender's code page
    else:
        text = data
    if "\u2028" in text or "\u2029" in text:  # no cost on Latin-1 text: the search stops at once
        text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    return text.lstrip("\ufeff \t\r\n")


def read_isa(text: str, document: str = "X12") -> tuple[Separators, list[str]]:
    """Separators and ISA elements ("ISA", ISA01..ISA16), found by counting element
    separators rather than trusting the fixed width, since not every sender pads the ISA.
    Raises InterchangeHeaderUnreadable naming the element when the header cannot be read."""
    if not text.startswith("ISA"):
        raise InterchangeHeaderUnreadable(
            "ISA",
            f"the file does not start with an ISA interchange header: it is not an {document} file",
            text[:3] or None,
        )
    if len(text) < 4:
        raise InterchangeHeaderUnreadable("ISA", "the ISA interchange header is cut short")
    sep = text[3]
    if sep.isalnum() or sep.isspace():
        raise InterchangeHeaderUnreadable(
            "ISA", "the character after ISA must be the element separator", sep
        )
    pos = 3
    for _ in range(15):
        pos = text.find(sep, pos + 1)
        if pos < 0:
            raise InterchangeHeaderUnreadable(
                "ISA16", "the ISA interchange header is cut short: it needs 16 elements"
            )
    if pos + 2 >= len(text):
        raise InterchangeHeaderUnreadable(
            "ISA16", "the ISA interchange header is cut short: no ISA16"
        )
    for damaged in _CONTROL.finditer(text, 0, pos + 1):
        if damaged.group() != sep:  # a control character may be the element separator
            raise InterchangeHeaderUnreadable(
                "ISA",
                "the ISA interchange header is damaged (it holds control characters): its "
                "separators cannot be trusted",
                f"0x{ord(damaged.group()):02x}",
            )
    component = text[pos + 1]
    end = pos + 2
    while text[end : end + 1] in (" ", "\t"):  # blanks a sender left before the terminator
        end += 1
    term = text[end : end + 1]
    if component.isalnum() or component.isspace() or component == sep:
        raise InterchangeHeaderUnreadable(
            "ISA16",
            "ISA16 must be the component separator: the ISA interchange header is damaged or "
            "cut short",
            component,
        )
    if not term or term.isalnum() or term in (sep, component):
        raise InterchangeHeaderUnreadable(
            "ISA16",
            "the ISA must end with a segment terminator right after ISA16: the interchange "
            "header is damaged or cut short",
            term,
        )
    isa = text[: pos + 2].split(sep)
    suffix = ""
    if term == "\r" and text[end + 1 : end + 2] == "\n":
        suffix = "\n"
    elif term not in "\r\n":
        after = text[end + 1 : end + 3]
        suffix = "\r\n" if after == "\r\n" else "\n" if after[:1] == "\n" else ""
    repetition = None
    if isa[12].strip() >= "00501":
        candidate = isa[11].strip()
        if len(candidate) == 1 and not candidate.isalnum() and candidate not in (sep, term):
            if candidate != component:
                repetition = candidate
    return Separators(sep, component, term, repetition, suffix), isa


def normalise(text: str, separators: Separators) -> tuple[str, str]:
    """The text ready to split (and the terminator to split on): see normalise_with_repairs."""
    body, term, _ = normalise_with_repairs(text, separators)
    return body, term


def normalise_with_repairs(
    text: str, separators: Separators
) -> tuple[str, str, list[tuple[int, str]]]:
    """The text ready to split, the terminator to split on, and the terminators put back.

    Line breaks that are not terminators are dropped (senders wrap at 80 columns), blanks
    around separators trimmed (the ISA's own padding is left alone: its fields are fixed
    width). A file written one segment per line (the ISA's terminator is followed by a line
    break) whose line does not end with the terminator, while the next line starts like a
    segment (`AMT*...`), lost that terminator: the line break ends the segment, and the third
    value lists each such (line number, segment id) for the reader to warn about. A file
    wrapped mid-segment has most lines not ending with a terminator and is joined as before."""
    sep, term = separators.element, separators.segment
    repaired: list[tuple[int, str]] = []
    if term in "\r\n":
        term = "\n"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
    elif "\n" in text or "\r" in text:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if separators.suffix and text.count(term + "\n") != text.count("\n"):
            text, repaired = _restore_terminators(text, sep, term)
        text = text.replace("\n", "")
    text = text.rstrip()
    isa_end = text.find(term) + 1
    if _padded(text, isa_end, sep, term):
        marks = re.escape(sep) + re.escape(term)
        body = re.sub(f"[ \\t]+(?=[{marks}])|(?<=[{marks}])[ \\t]+", "", text[isa_end:])
        text = text[:isa_end] + body.lstrip(" \t")
    if term + term in text:  # blank lines, doubled terminators: no segment between them
        text = re.sub(f"{re.escape(term)}{{2,}}", term, text)
    return text, term, repaired


_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")


def _restore_terminators(text: str, sep: str, term: str) -> tuple[str, list[tuple[int, str]]]:
    """Put back the terminator of each line that lost it (see normalise_with_repairs): only
    when most lines end with the terminator, and only before a line that starts with a
    segment id and the element separator. Called only when some line break follows no
    terminator, so a well-formed file never pays for the line split."""
    lines = text.split("\n")
    ended = sum(1 for line in lines if line.rstrip(" \t").endswith(term))
    if ended * 2 < len(lines):
        return text, []
    repaired = []
    match = _SEGMENT_ID.match
    for at in range(len(lines) - 1):
        line = lines[at].rstrip(" \t")
        if not line or line.endswith(term):
            continue
        following = lines[at + 1].lstrip(" \t")
        found = match(following)
        if found and following[found.end() : found.end() + 1] == sep:
            lines[at] = line + term
            repaired.append((at + 1, line.lstrip(" \t").split(sep, 1)[0]))
    return "\n".join(lines), repaired


def _padded(text: str, start: int, sep: str, term: str) -> bool:
    """Whether, from `start` on, a tab appears or a blank stands next to a separator or a
    terminator (blank + sep, sep + blank, blank + term, term + blank). One pass over the
    blanks: four searches for the pairs each read the whole text (a third of a second on a
    70 MB file), and most files have few blanks, none of them padding."""
    find = text.find
    if find("\t", start) >= 0:
        return True
    at = find(" ", start)
    while at >= 0:
        after = text[at + 1 : at + 2]
        if after == sep or after == term:
            return True
        if at > start:
            before = text[at - 1]
            if before == sep or before == term:
                return True
        at = find(" ", at + 1)
    return False


def chunks(text: str, term: str) -> Iterator[list[str]]:
    """The segments of `text` (no terminators, no empty ones at the ends), a megabyte of text
    at a time."""
    start, size = 0, len(text)
    if text.endswith(term):
        size -= len(term)
    while start < size:
        cut = text.find(term, start + _CHUNK, size) if start + _CHUNK < size else -1
        end = size if cut < 0 else cut
        yield text[start:end].split(term)
        start = end + len(term)


def split_interchange(
    data: bytes | str, document: str = "X12"
) -> tuple[Separators, Iterator[list[str]]]:
    """The interchange's separators and its segments as element lists (ISA first). Raises
    ValueError when there is no usable ISA header."""
    text = decode(data)
    try:
        separators, _ = read_isa(text, document)
    except InterchangeHeaderUnreadable as exc:
        raise ValueError(exc.message) from None
    body, term = normalise(text, separators)
    sep = separators.element

    def iterate() -> Iterator[list[str]]:
        for chunk in chunks(body, term):
            yield from map(str.split, chunk, repeat(sep))

    return separators, iterate()
