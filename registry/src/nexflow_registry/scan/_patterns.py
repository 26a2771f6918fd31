"""Line patterns of hostile or undeclared behaviour, each with a stable rule code."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._model import Severity


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    pattern: re.Pattern[str]
    message: str


_SHELL = r"(?:sudo\s+)?(?:/bin/|/usr/bin/)?(?:ba|z|da|k)?sh\b"
_FETCHERS = (
    r"(?:curl|wget|urlretrieve|urlopen|requests\.get|httpx\.get|fetch|Invoke-WebRequest|iwr)"
)
_PAYLOADS = r"(?:tar\.gz|tgz|tar|zip|7z|exe|dll|so|dylib|bin|deb|rpm|dmg|pkg|msi|appimage|jar|whl)"

HOSTILE = (
    Rule(
        "curl_pipe_shell",
        "block",
        re.compile(
            rf"\b(?:curl|wget)\b[^\n|]*\|\s*{_SHELL}|{_SHELL}\s+(?:-c\s+[\"']?\$\(|<\(\s*)(?:curl|wget)\b"
        ),
        "downloads a script and runs it in a shell",
    ),
    Rule(
        "base64_exec",
        "block",
        re.compile(
            rf"base64\s+(?:-d|-D|--decode)\b[^\n]*\|\s*{_SHELL}"
            r"|\b(?:exec|eval)\s*\(\s*(?:base64\.b64decode|codecs\.decode|__import__\(\s*['\"]base64)"
            r"|\b(?:eval|Function)\s*\(\s*(?:atob\s*\(|Buffer\.from\()",
            re.IGNORECASE,
        ),
        "executes base64-decoded code",
    ),
    Rule(
        "runtime_fetch_binary",
        "block",
        re.compile(rf"\b{_FETCHERS}\b[^\n]{{0,200}}?\.{_PAYLOADS}\b", re.IGNORECASE),
        "fetches a binary or an archive at run time",
    ),
    Rule(
        "secret_file_read",
        "warn",
        re.compile(
            r"~?/?\.ssh/|\.aws/credentials|\.netrc\b|\.npmrc\b|\bid_(?:rsa|ed25519)\b|\.gnupg/"
        ),
        "reads a credentials file",
    ),
)

NETWORK = re.compile(
    r"\b(?:requests|httpx|aiohttp|urllib\.request|http\.client|socket\.socket|urlopen"
    r"|fetch\s*\(|axios|XMLHttpRequest|net\.connect|curl|wget|nc)\b"
)
URL_HOST = re.compile(r"\bhttps?://([A-Za-z0-9.-]+)")
ENV_READ = re.compile(
    r"os\.environ(?:\.get)?\s*[\[(]\s*['\"](\w+)['\"]|os\.getenv\(\s*['\"](\w+)['\"]"
    r"|process\.env\.(\w+)|process\.env\[\s*['\"](\w+)['\"]|\bprintenv\s+(\w+)"
)
