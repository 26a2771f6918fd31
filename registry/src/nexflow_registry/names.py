"""Lookalike package names: what would let `reqeusts` or `ech0` pass for `requests`/`echo`.

Two names are too close when their skeletons (lowercase, separators `-_.` dropped, digits
and letters that look alike folded: 0→o, 1/i→l, 3→e, 5→s, `rn`→m, `vv`→w) are equal, or
within one edit (insert, delete, substitute, swap two neighbours) for names of 5+
characters, two for names of 10+.
"""

from __future__ import annotations

_FOLD = str.maketrans({"0": "o", "1": "l", "i": "l", "3": "e", "5": "s", "4": "a", "7": "t"})
_SEPARATORS = str.maketrans("", "", "-_.")


def plain(name: str) -> str:
    return name.lower().translate(_SEPARATORS)


def skeleton(name: str) -> str:
    return plain(name).replace("rn", "m").replace("vv", "w").translate(_FOLD)


def distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def too_close(new: str, existing: str) -> bool:
    if new == existing:
        return False
    if skeleton(new) == skeleton(existing):
        return True
    for a, b in ((plain(new), plain(existing)), (skeleton(new), skeleton(existing))):
        shorter = min(len(a), len(b))
        allowed = 2 if shorter >= 10 else 1 if shorter >= 5 else 0
        if allowed and abs(len(a) - len(b)) <= allowed and distance(a, b) <= allowed:
            return True
    return False


def lookalikes(new: str, others: list[str]) -> list[str]:
    """The names in `others` that `new` is too close to."""
    return sorted(o for o in others if too_close(new, o))
