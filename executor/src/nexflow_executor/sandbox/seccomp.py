"""The sandbox's system-call filters, built from one policy (seccomp_policy.txt).

nsjail gets a kafel policy: the [deny] calls fail with EPERM, everything else is allowed.
Docker gets a profile of our own (its JSON travels inline in `security_opt`), an
allowlist: the [allow] calls, and nothing of [deny]. Both add the same argument checks:
`clone` with any namespace flag and `personality` with anything but the harmless personas
fail with EPERM; `clone3` fails with ENOSYS (its flags sit in memory seccomp cannot read,
and the C library then falls back to `clone`). Only the native architecture is allowed
(kafel and Docker both refuse 32-bit and x32 entry points), so no call slips through
under another number.
"""

from __future__ import annotations

import errno
import functools
import json
from pathlib import Path

__all__ = ["docker_profile", "kafel_policy", "policy_lists"]

POLICY = Path(__file__).with_name("seccomp_policy.txt")
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NAMESPACE_FLAGS = 0x7E020000
# PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff.
SAFE_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
_ARGUMENT_CHECKED = ("clone", "clone3", "personality")
_KAFEL_NAMES = {"umount2": "umount"}  # kafel's x86-64 table names syscall 166 `umount`


@functools.cache
def policy_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(deny, allow) from the policy file; raises if they overlap or name a call twice."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in POLICY.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text.startswith("[") and text.endswith("]"):
            current = sections.setdefault(text[1:-1], [])
        elif text and current is not None:
            current.extend(text.split())
    deny, allow = tuple(sections["deny"]), tuple(sections["allow"])
    named = [*deny, *allow, *_ARGUMENT_CHECKED]
    if len(set(named)) != len(named):
        twice = sorted({n for n in named if named.count(n) > 1})
        raise ValueError(f"{POLICY.name}: named more than once: {', '.join(twice)}")
    return deny, allow


@functools.cache
def kafel_policy() -> str:
    """The kafel policy nsjail compiles (seccomp_string)."""
    deny = [_KAFEL_NAMES.get(name, name) for name in policy_lists()[0]]
    personas = " && ".join(f"persona != {hex(p)}" for p in SAFE_PERSONAS)
    return (
        f"ERRNO({errno.EPERM}) {{ {', '.join(deny)}, "
        f"clone(flags) {{ (flags & {hex(CLONE_NAMESPACE_FLAGS)}) != 0 }}, "
        f"personality(persona) {{ {personas} }} }} "
        f"ERRNO({errno.ENOSYS}) {{ clone3 }} "
        "DEFAULT ALLOW"
    )


@functools.cache
def docker_profile() -> str:
    """Docker's seccomp profile as JSON (`security_opt=["seccomp=" + this]`)."""
    _, allow = policy_lists()
    rules: list[dict[str, object]] = [
        {"names": list(allow), "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {
                    "index": 0,
                    "value": CLONE_NAMESPACE_FLAGS,
                    "valueTwo": 0,
                    "op": "SCMP_CMP_MASKED_EQ",
                }
            ],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
    ]
    rules += [
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}],
        }
        for persona in SAFE_PERSONAS
    ]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",  # EPERM for everything not allowed below
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []},
        ],
        "syscalls": rules,
    }
    return json.dumps(profile, separators=(",", ":"))
