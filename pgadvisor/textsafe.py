"""Terminal-safe text: what a server or a plugin says is shown, never obeyed by the terminal.

Object names, statement texts, setting values and plugin titles can hold any character. Written raw, an escape
sequence in an index name (`ESC ] 52 ; c ; <base64> BEL` sets the clipboard; others retitle the window, move the
cursor or hide the lines above) acts on the reader's terminal, and bidi overrides reorder what is displayed. Every
human-readable output passes such text through `safe()` (one line) or `safe_block()` (multi-line SQL), which turn
C0 and C1 controls, DEL, bidi controls, line separators and lone surrogates into visible `\\x1b` / `\\u202e`
escapes. JSON output needs none of this: `json.dumps` already escapes them.
"""

from __future__ import annotations

import re

_CONTROLS = "\x00-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # ALM, LRM, RLM, embeddings/overrides, isolates
_SEPARATORS = "\u2028\u2029"
_SURROGATES = "\ud800-\udfff"  # lone surrogates (bytes decoded with surrogateescape) cannot even be encoded

_UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}{_SEPARATORS}{_SURROGATES}]")
_UNSAFE_IN_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}{_SURROGATES}]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object) -> str:
    """`text` (or `str(text)`) on one line, every control and bidi character shown as an escape."""
    value = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escape, value)


def safe_block(text: str, *, tab: str = "    ") -> str:
    """Multi-line text (SQL in a fix block, a statement, documentation): newlines kept, tabs as spaces, every
    other control and bidi character shown as an escape (a lone CR would rewrite the line it ends)."""
    return _UNSAFE_IN_BLOCK.sub(_escape, text.replace("\r\n", "\n").replace("\t", tab))

