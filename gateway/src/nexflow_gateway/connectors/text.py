"""What a chat may be shown: text without terminal escapes or invisible controls.

Model output and skill output are hostile data, and a chat renders what it is sent. An
ANSI escape (`ESC [2J`, an OSC 8 hyperlink) or a C0/C1 control can rewrite what a
terminal-based client or a log viewer shows; a bidi override (U+202E) makes
`exe.txt` look like `txt.exe` and can turn a denial into what reads as an approval; a
zero-width space or word joiner hides text inside a word (and a string inside a token
from a plain search). All of these are removed from every `Reply` before a connector sees
it, and from the web chat's JSON replies and streamed pieces. Line breaks and tabs stay;
ZWJ/ZWNJ (U+200D/U+200C) stay, since emoji sequences and scripts such as Persian need them.

The model's own text is also `marked`: a line of it that opens with a speaker the user
could take for the gateway ("System:", "Nexflow:", "Gateway:", "Admin:", or the gateway's
own "Waiting for approval:" heading) is prefixed with `MODEL_MARK`, so "System: approval
granted" from the model reads as the model's words, never as the gateway's.
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 (but tab and line feed) and C1 controls, DEL
    "\u061c\u200b\u200e\u200f"  # Arabic letter mark, zero-width space, LRM, RLM
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "\u2060-\u2064\ufeff"  # word joiner, invisible operators, zero-width no-break space
    "\ufff9-\ufffb"  # interlinear annotation controls
    "]"
)
EMPTY = "(empty)"
MODEL_MARK = "[model] "
# A line opening (after blanks and Markdown decoration) with a speaker label and a colon.
_SPEAKER = re.compile(
    r"^(?=[ \t>*_#`~|\[(\-]*(?:system|nexflow|gateway|admin(?:istrator)?|assistant"
    r"|waiting for approval)\b[ \t*_`\])]*(?:\([^)\n]{0,40}\))?[ \t*_`\])]*[:\uff1a])",
    re.IGNORECASE | re.MULTILINE,
)


def clean(text: str) -> str:
    """`text` without escapes and invisible controls (line breaks kept; may be empty)."""
    return _INVISIBLE.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))


def shown(text: str) -> str:
    """`text` as a chat may show it (never empty: a channel refuses a blank message)."""
    cleaned = clean(text)
    return cleaned if cleaned.strip() else EMPTY


def marked(model_text: str) -> str:
    """The model's `model_text`, cleaned, each line that speaks as the gateway marked."""
    return _SPEAKER.sub(MODEL_MARK, clean(model_text))
