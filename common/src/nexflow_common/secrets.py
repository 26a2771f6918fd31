"""Which text is a secret: the rules the audit log and every log line redact by.

* keys that look secret (password, passwd, passphrase, secret, token, api_key/apikey,
  authorization, cookie, private_key, credential, session; any case, ``-`` or ``_``);
* credential-looking text (``Bearer …``, ``Basic …``, ``sk-…``, ``sk_live_…``, GitHub
  ``ghp_…``/``github_pat_…``, Slack ``xox?-…``, AWS ``AKIA…``, PEM private key blocks,
  JWTs, ``user:pass@`` in URLs, ``password=…`` style pairs); a Nexflow API token
  ``nxf_<id>_<secret>`` keeps its public ``nxf_<id>_`` (which token it was).

Key matching is by substring on purpose (``max_tokens`` matches too): losing a harmless
number costs less than storing a credential.
"""

from __future__ import annotations

import functools
import re

__all__ = ["REDACTED", "is_secret_key", "scrub_text"]

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"pass(?:wd|word|phrase)|secret|token|api_?key|authori[sz]ation|cookie"
    r"|private_?key|credential|session"
)
_SECRET_TEXT = re.compile(
    # Every repetition that could restart inside a long run is anchored by a lookbehind
    # or bounded, so scanning stays linear even on hostile input.
    r"(?i:\bbearer)\s+[A-Za-z0-9\-._~+/]+=*"
    r"|(?i:\bbasic)\s+[A-Za-z0-9+/]{8,}={0,2}"
    r"|(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9_\-]{12,}"
    r"|\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|(?<![A-Za-z0-9_\-])xox[abposr]-[A-Za-z0-9\-]{8,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----[\s\S]*?"
    r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----|\Z)"
    r"|(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
    r"|(?<=://)[^/\s:@]{1,256}:[^/\s@]{1,256}(?=@)"
    r"|(?P<keep>(?<![A-Za-z0-9])nxf_[A-Za-z0-9]{4,64}_)[A-Za-z0-9_\-]{16,}"
    # `password=…`, `"api_key": "…"`: keep the name, drop the value
    r"|(?P<name>(?i:pass(?:wd|word|phrase)|secret|token|api[_\-]?key|credential)"
    r"[\w\-]{0,32}[\"']?[ \t]{0,8}[=:][ \t]{0,8}[\"']?)[^\s\"'&,;]+"
)


# Every pattern above contains one of these (lowercased): texts without any skip the regex.
_HINTS = (
    "bearer", "basic", "sk-", "sk_", "rk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "xox", "akia", "asia", "private key", "eyj", "://", "pass", "secret",
    "token", "api", "credential", "nxf_",
)  # fmt: skip


def _replace(match: re.Match[str]) -> str:
    kept = match.group("name") or match.group("keep")
    return REDACTED if kept is None else kept + REDACTED


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Does a mapping key name something secret? (Keys repeat: answers are cached.)"""
    return _SECRET_KEY.search(key.lower().replace("-", "_")) is not None


def scrub_text(text: str) -> str:
    """Replace credential-looking pieces of `text` by ``[REDACTED]``."""
    if len(text) < 6:  # shorter than the shortest pattern (`pass=x`)
        return text
    low = text.lower()
    if not any(hint in low for hint in _HINTS):
        return text
    return _SECRET_TEXT.sub(_replace, text)
