"""Secret literals in query texts, replaced before any other layer sees the text. Pure, stdlib only.

pg_stat_statements keeps utility statements as written and pg_stat_activity shows any statement
while it runs, so ``CREATE ROLE app LOGIN PASSWORD 'Secret'`` would otherwise reach the screen,
the details, the snapshot JSON, the logs. The collectors call :func:`redact_secrets` where a query
text becomes a record (``collect/rows.py: backend``, ``collect/statements.py: TextCache.put``).
It replaces, with ``•••``:

1. the literal right after a word ending in ``password`` or ``passwd`` (any case; a quoted
   identifier too) with only blanks, comments and one ``=``, ``=>`` or ``:=`` between them:
   ``CREATE/ALTER ROLE/USER … [ENCRYPTED] PASSWORD '…'``, ``OPTIONS (password '…')`` and its
   ``ADD`` / ``SET`` forms (user mappings, servers), ``sslpassword '…'``, ``password := '…'``.
   Shown ``PASSWORD '•••'``: the keyword and the quotes as written (``E'•••'``,
   ``$tag$•••$tag$``), only the content replaced. ``PASSWORD NULL`` is left alone.
2. in the value of every string literal (and in comments): libpq conninfo values
   ``password=…`` / ``sslpassword=…`` (bare up to the next blank, or single-quoted with
   backslash escapes), shown ``password=•••`` / ``password='•••'``;
3. likewise, URI passwords ``scheme://user:•••@host`` (up to the authority's last ``@``) and
   ``?password=•••`` / ``&password=•••`` parameters;
4. and the literals' values read again as SQL, recursively: ``DO $$ … dblink_exec('…',
   'ALTER ROLE r PASSWORD ''…''') … $$`` (8 levels deep; deeper, a literal that may hold a
   secret is masked whole).

Reading is SQL's: ``'…'`` (and N'', B'', X'') with doubled quotes, ``E'…'`` and ``U&'…'`` with
their escapes decoded, ``$tag$…$tag$``, ``--`` and nested ``/* */`` comments, ``"names"``. A
literal without its closing quote (a text cut by track_activity_query_size, or pgtop's own cut
of long pg_stat_statements texts) is masked to the end of the text. Everything else is kept as it
was, character for character; where two readings differ, the larger mask wins:

- a ``'…'`` literal after ``password`` that holds a backslash is masked as far as the ``E'…'``
  reading goes (a session with standard_conforming_strings off);
- inside a literal, ``password=`` is read both as conninfo and as SQL (a DO body): in a body,
  ``password = crypt(p, s)`` loses ``crypt(p,`` to the mask;
- a ``://`` authority without ``@`` that reaches the end of a possibly cut text is masked after
  its first ``:`` (it may be ``user:pass`` cut before the ``@``).

Not masked: secrets not written in these shapes (``INSERT … (name, password) VALUES (…, 'x')``,
``SET password = crypt('x', …)`` where the literal does not follow the word, variables called
otherwise, options called ``secret`` or ``api_key``), ``U&''`` literals with a ``UESCAPE`` other
than backslash (rule 1 still masks them whole), and conninfo literals read with
standard_conforming_strings off.

Cost (measured on the lab's 2-core machine, Python 3.11): a text without ``passw`` (any case),
``://``, or a backslash in an ``E''``/``U&''`` literal is returned as it is, the same object, after
one lowercase scan: ~0.3 µs for a 70-character statement, ~6.5 µs for 3 kB. Others are parsed
(17 µs for a ``CREATE ROLE``, 35 µs for a ``CREATE SUBSCRIPTION``, 80 µs for a DO body with two
dblink calls) once per distinct text: texts up to 8 kB are remembered (LRU of 256), a repeat costs
~0.5 µs. Time is linear in the text's length, whatever it holds. It never raises: should the
parser fail, the text is cut at its first possible secret.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from typing import Final, NamedTuple

__all__ = ["MASK", "redact_secrets"]

MASK: Final = "•••"

_MAX_DEPTH: Final = 8  # literals inside literals inside … read again as SQL; deeper: masked whole
_CACHED_CHARS: Final = 8192  # longer texts are parsed each time (the cache holds ≤ ~4 MB)

_ID_START = r"A-Za-z_\x80-\U0010FFFF"
_ID_CONT = r"A-Za-z_0-9$\x80-\U0010FFFF"
# Where a comment, a string literal or a quoted identifier starts. E'…' and $tag$ only where no
# identifier goes on before them (``somee'x'`` is an identifier and a string; ``a$b$`` a name).
_START: Final = re.compile(
    rf"""(?P<c>--|/\*)
    | (?<![{_ID_CONT}])(?P<e>[eE]')
    | (?<![{_ID_CONT}])(?P<u>[uU]&')
    | (?<![{_ID_CONT}])(?P<p>[nNbBxX]')
    | (?P<s>')
    | (?P<q>")
    | (?<![{_ID_CONT}])(?P<d>\$(?:[{_ID_START}][A-Za-z_0-9\x80-\U0010FFFF]*)?\$)
    """,
    re.VERBOSE,
)
_QUOTE_OR_BACKSLASH: Final = re.compile(r"['\\]")
_SECRET_WORD: Final = re.compile(r"pass(?:word|wd)", re.IGNORECASE | re.ASCII)
_FIRST_SECRET_WORD: Final = re.compile(r"passw", re.IGNORECASE | re.ASCII)
_SECRET_NAME: Final = re.compile(r"pass(?:word|wd)\Z", re.IGNORECASE | re.ASCII)
_WORD_CHAR: Final = re.compile(rf"[{_ID_CONT}]")
_NAME_CHAR: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_CONNINFO_KEY: Final = re.compile(
    r"pass(?:word|wd)[ \t\n\r\f\v]*=[ \t\n\r\f\v]*", re.IGNORECASE | re.ASCII
)
_BLANK: Final = frozenset(" \t\n\r\f\v")
_GAP: Final = re.compile(r"[ \t\n\r\f\v]*(=>|:=|=)?[ \t\n\r\f\v]*")
_E_ESCAPES: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Token(NamedTuple):
    kind: str  # c comment, s '…' (N'', B'', X''), e E'…', u U&'…', d $tag$…$tag$, q "name"
    start: int
    cstart: int  # content
    cend: int
    end: int
    closed: bool


Span = tuple[int, int]


def redact_secrets(text: str) -> str:
    """``text`` with every secret literal it may hold replaced by ``•••`` (see the module doc);
    ``text`` itself (the same object) when there is nothing to replace."""
    if not _may_hold_secret(text):
        return text
    return _redact_cached(text) if len(text) <= _CACHED_CHARS else _redact(text)


def _may_hold_secret(text: str) -> bool:
    """Whether ``text`` needs parsing: ``passw`` in any case, ``://``, or backslash escapes in
    an E'' or U&'' literal (which may spell either)."""
    if "://" in text:
        return True
    low = text.lower()
    return "passw" in low or ("\\" in text and ("e'" in low or "u&'" in low))


def _redact(text: str) -> str:
    try:
        spans = _spans(text, 0, truncated=True)
        if not spans:
            return text
        out: list[str] = []
        last = 0
        for start, end in spans:
            out.append(text[last:start])
            out.append(MASK)
            last = end
        out.append(text[last:])
        return "".join(out)
    except Exception:  # a parser bug must never show a secret nor stop a tick
        return _cut(text)


# Activity texts come back every tick as new objects: parse each distinct one once.
_redact_cached: Final = lru_cache(maxsize=256)(_redact)


def _cut(text: str) -> str:
    """The text up to its first possible secret (or backslash), then the mask. Positions are
    found in ``text`` itself: ``str.lower`` may change a text's length."""
    word = _FIRST_SECRET_WORD.search(text)
    found = [i for i in (word.start() if word else -1, text.find("://"), text.find("\\")) if i >= 0]
    return text[: min(found)] + MASK if found else MASK


# --------------------------------------------------------------------------- lexing


def _lex(text: str) -> list[_Token]:
    """Comments, literals and quoted identifiers of ``text``, in order (the rest is skipped)."""
    tokens: list[_Token] = []
    n = len(text)
    pos = 0
    search = _START.search
    while (m := search(text, pos)) is not None:
        kind = m.lastgroup if m.lastgroup in ("c", "e", "q", "d", "u") else "s"  # p: N'', B''…
        start, cstart = m.start(), m.end()
        if kind == "c":
            cend, end, closed = (
                _line_comment(text, cstart) if m.group() == "--" else _block_comment(text, cstart)
            )
        elif kind == "d":
            tag = m.group()
            close = text.find(tag, cstart)
            cend, end, closed = (n, n, False) if close < 0 else (close, close + len(tag), True)
        elif kind == "e":
            cend, end, closed = _escaped_end(text, cstart)
        else:
            cend, end, closed = _doubled_end(text, cstart, '"' if kind == "q" else "'")
        tokens.append(_Token(kind, start, cstart, cend, end, closed))
        pos = end
    return tokens


def _line_comment(text: str, cstart: int) -> tuple[int, int, bool]:
    newline = text.find("\n", cstart)
    return (len(text), len(text), False) if newline < 0 else (newline, newline, True)


def _block_comment(text: str, cstart: int) -> tuple[int, int, bool]:
    """End of a /* */ comment; they nest. Each */ is looked for once (linear time)."""
    depth, i = 1, cstart
    closing = text.find("*/", i)
    while closing >= 0:
        opening = text.find("/*", i, closing)
        if opening >= 0:
            depth, i = depth + 1, opening + 2
            continue
        depth, i = depth - 1, closing + 2
        if depth == 0:
            return closing, i, True
        closing = text.find("*/", i)
    return len(text), len(text), False


def _doubled_end(text: str, i: int, quote: str) -> tuple[int, int, bool]:
    """End of a '…' (or "…") body whose quote is written twice inside."""
    while True:
        k = text.find(quote, i)
        if k < 0:
            return len(text), len(text), False
        if text.startswith(quote, k + 1):
            i = k + 2
            continue
        return k, k + 1, True


def _escaped_end(text: str, i: int) -> tuple[int, int, bool]:
    """End of an E'…' body: backslash escapes and doubled quotes."""
    n = len(text)
    while True:
        m = _QUOTE_OR_BACKSLASH.search(text, i)
        if m is None:
            return n, n, False
        k = m.start()
        if text[k] == "\\" or text.startswith("'", k + 1):
            i = k + 2
            if i > n:
                return n, n, False
            continue
        return k, k + 1, True


# --------------------------------------------------------------------------- decoding


def _decode(text: str, token: _Token) -> tuple[str, list[int] | None]:
    """A literal's value, and where each of its characters starts in ``text`` (plus its end);
    None when the value is ``text[cstart:cend]`` itself."""
    raw = text[token.cstart : token.cend]
    if token.kind == "d" or (token.kind == "s" and "''" not in raw):
        return raw, None
    if token.kind in "eu" and "\\" not in raw and "''" not in raw:
        return raw, None
    out: list[str] = []
    pos: list[int] = []
    i, end = token.cstart, token.cend
    while i < end:
        pos.append(i)
        ch = text[i]
        if ch == "'" and i + 1 < end and text[i + 1] == "'":
            out.append("'")
            i += 2
        elif ch == "\\" and token.kind == "e" and i + 1 < end:
            value, i = _escape(text, i + 1, end)
            out.append(value)
        elif ch == "\\" and token.kind == "u" and i + 1 < end:
            value, i = _unicode_escape(text, i + 1, end)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    pos.append(end)
    return "".join(out), pos


def _escape(text: str, i: int, end: int) -> tuple[str, int]:
    """The character an E'' escape stands for (``text[i]`` follows the backslash), and where
    the escape ends."""
    ch = text[i]
    if ch in "01234567":
        j = i
        while j < min(i + 3, end) and text[j] in "01234567":
            j += 1
        return _chr(int(text[i:j], 8)), j
    width = {"x": 2, "u": 4, "U": 8}.get(ch)
    if width is not None:
        j = i + 1
        while j < min(i + 1 + width, end) and text[j] in "0123456789abcdefABCDEF":
            j += 1
        if j > i + 1 and (ch == "x" or j == i + 1 + width):
            return _chr(int(text[i + 1 : j], 16)), j
    return _E_ESCAPES.get(ch, ch), i + 1


def _unicode_escape(text: str, i: int, end: int) -> tuple[str, int]:
    """A U&'' escape with the default escape character: \\XXXX, \\+XXXXXX or \\\\."""
    width, start = (6, i + 1) if text[i] == "+" else (4, i)
    digits = text[start : min(start + width, end)]
    if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
        return _chr(int(digits, 16)), start + width
    return text[i], i + 1


def _chr(code: int) -> str:
    return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"


# --------------------------------------------------------------------------- finding secrets


def _spans(text: str, depth: int, *, truncated: bool) -> list[Span]:
    """Sorted, merged (start, end) ranges of ``text`` to show as the mask.

    ``depth`` 0 is a statement; above, the value of a literal. ``truncated``: the text may have
    been cut (it runs to the end of the statement text)."""
    if depth > _MAX_DEPTH:
        return [(0, len(text))]
    tokens = _lex(text)
    spans: list[Span] = []
    _keyword_literals(text, tokens, spans)
    literals = [t for t in tokens if t.kind in "sedu"]
    if depth == 0:
        for token in tokens:
            if token.kind == "c":
                _conninfo_values(text, token.cstart, token.cend, [], spans, truncated)
    else:
        _conninfo_values(text, 0, len(text), literals, spans, truncated)
    covered = _merge(spans)
    covered_starts = [a for a, _ in covered]
    for token in literals:
        if _inside(covered, covered_starts, token.cstart, token.cend):
            continue
        value, pos = _decode(text, token)
        if not _may_hold_secret(value):
            continue
        inner = _spans(value, depth + 1, truncated=truncated and not token.closed)
        for start, end in inner:
            if pos is None:
                spans.append((token.cstart + start, token.cstart + end))
            else:
                spans.append((pos[start], pos[end]))
    return _merge(spans)


def _keyword_literals(text: str, tokens: list[_Token], spans: list[Span]) -> None:
    """Rule 1: the literal right after a word ending in password/passwd."""
    starts = [t.start for t in tokens]
    for m in _SECRET_WORD.finditer(text):
        end = m.end()
        if end < len(text) and _WORD_CHAR.match(text, end):
            continue  # password_required, passwords: another word
        index = bisect_right(starts, m.start()) - 1
        if index >= 0 and tokens[index].end > m.start():
            continue  # inside a literal, a comment or a quoted identifier
        _literal_after(text, tokens, index + 1, end, spans)
    for index, token in enumerate(tokens):
        if token.kind == "q" and token.closed:
            name = text[token.cstart : token.cend].replace('""', '"')
            if _SECRET_NAME.search(name):
                _literal_after(text, tokens, index + 1, token.end, spans)


def _literal_after(
    text: str, tokens: list[_Token], index: int, cursor: int, spans: list[Span]
) -> None:
    """The literal after ``cursor`` if only blanks, comments and one ``=`` (``=>``, ``:=``)
    stand between."""
    operator = False
    for k in range(index, len(tokens)):
        token = tokens[k]
        gap = _GAP.match(text, cursor, token.start)
        if gap is None or gap.end() != token.start:
            return
        if gap.group(1):
            if operator:
                return
            operator = True
        if token.kind == "c":
            cursor = token.end
            continue
        if token.kind == "q":
            return
        end = token.cend
        if token.kind == "s" and "\\" in text[token.cstart : token.cend]:
            end = max(end, _escaped_end(text, token.cstart)[0])  # standard_conforming_strings off
        spans.append((token.cstart, end))
        return


def _conninfo_values(
    text: str,
    start: int,
    stop: int,
    literals: list[_Token],
    spans: list[Span],
    truncated: bool,
) -> None:
    """Rules 2 and 3 in ``text[start:stop]``: conninfo ``password=`` values and URI passwords.

    ``literals``: SQL literals within, where a bare value stops at the literal's closing quote
    (the text is SQL holding a conninfo literal) unless backslashes make the two readings
    differ (then libpq's reading: to the next blank)."""
    bounded = "\\" not in text[start:stop]
    starts = [t.start for t in literals]

    def bound(at: int) -> int:
        index = bisect_right(starts, at) - 1
        if bounded and index >= 0 and literals[index].closed and at < literals[index].cend:
            return literals[index].cend
        return stop

    pos = start
    while (m := _CONNINFO_KEY.search(text, pos, stop)) is not None:
        limit = bound(m.start())
        value = m.end()
        key = m.start()
        while key > start and text[key - 1] in _NAME_CHAR:
            key -= 1
        if key > start and text[key - 1] in "?&":  # a URI parameter: to the next &
            end = value
            while end < limit and text[end] != "&" and text[end] not in _BLANK:
                end += 1
            span = (value, end)
        elif value < limit and text[value] == "'":
            span = _quoted_value(text, value + 1, limit)
        else:
            span = (value, _bare_end(text, value, limit))
        spans.append(span)
        pos = max(value, span[1])  # a key inside a masked value needs no second look
    scheme = text.find("://", start, stop)
    while scheme >= 0:
        end = _uri_password(text, scheme + 3, bound(scheme), stop, spans, truncated)
        scheme = text.find("://", max(end, scheme + 3), stop)


def _quoted_value(text: str, i: int, stop: int) -> Span:
    start = i
    while i < stop:
        if text[i] == "\\":
            i += 2
        elif text[i] == "'":
            return start, i
        else:
            i += 1
    return start, stop


def _bare_end(text: str, i: int, limit: int) -> int:
    while i < limit and text[i] not in _BLANK:
        i += 2 if text[i] == "\\" else 1
    return min(i, limit)


def _uri_password(
    text: str, i: int, limit: int, stop: int, spans: list[Span], truncated: bool
) -> int:
    """``user:password@`` after ``scheme://``: the password up to the authority's last @.
    Returns where the authority ends."""
    end = i
    while end < limit and text[end] != "/" and text[end] not in _BLANK:
        end += 1
    at = text.rfind("@", i, end)
    colon = text.find(":", i, at if at >= 0 else end)
    if colon >= 0 and at >= 0:
        spans.append((colon + 1, at))
    elif colon >= 0 and truncated and end == stop == len(text):  # cut before the @: user:pass…?
        spans.append((colon + 1, end))
    return end


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _inside(spans: list[Span], starts: list[int], start: int, end: int) -> bool:
    """Whether [start, end) lies within one of the merged ``spans`` (``starts``: their starts)."""
    index = bisect_right(starts, start) - 1
    return index >= 0 and spans[index][1] >= end
