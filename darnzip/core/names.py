"""Compact file-name lists for the header: numbered runs (frame_0001.png, frame_0002.png, ...) as ranges.

`encode_names` returns a list whose items are either a literal name or a run
{"prefix": p, "start": s, "count": n, "width": w, "suffix": x} meaning p + str(i).zfill(w) + x for
i = s .. s+n-1 (w = 0: no padding). `decode_names` is the exact inverse.
"""
from __future__ import annotations

import re

from darnzip.core.records import whole_in_range

__all__ = ["decode_names"]  # the public names (docs/api.md)

_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")
MAX_RUN = 1 << 40
# names one frame archive may list (a binary archive's are bounded by its image count): ~0.3 GB expanded
MAX_NAMES = 1 << 22


def _split(name: str):
    match = _NUMBERED.match(name)
    if not match:
        return None
    prefix, digits, suffix = match.groups()
    width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
    return prefix, int(digits), width, suffix, digits


def _render(prefix: str, number: int, width: int, suffix: str) -> str:
    return f"{prefix}{str(number).zfill(width)}{suffix}"


def encode_names(names: list[str]) -> list:
    items: list = []
    for name in names:
        parts = _split(name)
        last = items[-1] if items else None
        if parts and isinstance(last, dict):
            prefix, number, _, suffix, _ = parts
            if (prefix, suffix) == (last["prefix"], last["suffix"]) and number == last["start"] + last["count"] \
                    and _render(prefix, number, last["width"], suffix) == name:
                last["count"] += 1
                continue
        if parts:
            prefix, number, width, suffix, digits = parts
            if _render(prefix, number, width, suffix) == name:
                items.append({"prefix": prefix, "start": number, "count": 1, "width": width, "suffix": suffix})
                continue
        items.append(name)
    # single-name runs are clearer (and shorter) as literals
    return [i["prefix"] + str(i["start"]).zfill(i["width"]) + i["suffix"] if isinstance(i, dict) and i["count"] == 1
            else i for i in items]


def _run_fields(item: dict) -> tuple[str, str, int, int, int]:
    prefix, suffix, start, count, width = (item.get(k) for k in ("prefix", "suffix", "start", "count", "width"))
    if not (isinstance(prefix, str) and isinstance(suffix, str) and whole_in_range(start, 0, MAX_RUN)
            and whole_in_range(count, 0, MAX_RUN) and whole_in_range(width, 0, 64)):
        raise ValueError("malformed name run")
    return prefix, suffix, start, count, width


def count_names(items: object) -> int:
    """How many names `items` stands for, checked without expanding any run; ValueError if malformed."""
    if not isinstance(items, list):
        raise ValueError("names are not a list")
    total = 0
    for item in items:
        if isinstance(item, str):
            total += 1
        elif isinstance(item, dict):
            total += _run_fields(item)[3]
        else:
            raise ValueError("name item is neither a string nor a run")
    return total


def decode_names(items: list, limit: int = MAX_NAMES) -> list[str]:
    """Inverse of encode_names; raises ValueError on a malformed item, or when the items stand for more
    than `limit` names (counted before anything is expanded: a run may claim 2**40)."""
    if count_names(items) > limit:
        raise ValueError(f"more names than the {limit:,} expected")
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
            continue
        prefix, suffix, start, count, width = _run_fields(item)
        names.extend(_render(prefix, i, width, suffix) for i in range(start, start + count))
    return names


def name_clashes(names: list[str]) -> str | None:
    """A name that two entries share, or that is both a file and a directory above another name
    (`sub` and `sub/x.png`): restoring such a list could not put every file where it belongs."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in seen:
                return "/".join(parts[:depth])
    return None


def restorable_name(name: object) -> bool:
    """A name a file can be restored under, inside the output directory: relative, no '..', no NUL, no
    empty or '.' part, at most 4,096 characters."""
    if not isinstance(name, str) or not 0 < len(name) <= 4096 or "\0" in name:
        return False
    parts = name.split("/")
    return not name.startswith("/") and all(p not in ("", ".", "..") for p in parts)
