"""Header field checks that both archive kinds share: the model record, file names.

The header's CRC catches accidents; these catch archives built by hand or by a fuzzer, so that nothing
downstream meets a field of the wrong type, an absurd size, or names that cannot all be restored."""
from __future__ import annotations

import re

from darnzip.core.names import decode_names, name_clashes, restorable_name
from darnzip.core.records import ArchiveError
from darnzip.core.zoo import is_registry_id

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DESCRIPTION = re.compile(r"^[0-9a-f]{1,64}$")  # 16 digits today, 64 in one release; others: a mismatch


def require(condition: bool, what: str) -> None:
    if not condition:
        raise ArchiveError(f"corrupt archive: header field {what} is invalid")


def check_model_record(model: object) -> None:
    """{"id": registry id or a file's stem, "sha256": 64 hex digits, "description": optional hash}."""
    require(isinstance(model, dict) and isinstance(model.get("id"), str) and 0 < len(model["id"]) <= 256
            and "\0" not in model["id"] and isinstance(model.get("sha256"), str)
            and bool(_SHA256.match(model["sha256"])), "model")
    require(is_registry_id(model["id"]), "model.id")
    for key in ("description", "description_sha256"):
        if key in model:
            require(isinstance(model[key], str) and bool(_DESCRIPTION.match(model[key])), f"model.{key}")


def check_name(name: object, what: str = "name") -> str:
    require(restorable_name(name), what)
    return name


def check_names(items: object, limit: int, what: str = "names") -> list[str]:
    """A name list (literals and numbered runs) standing for at most `limit` names, counted before any run
    is expanded; every name restorable."""
    try:
        names = decode_names(items, limit)
    except ValueError:
        names = None
    require(names is not None and len(names) > 0, what)
    for name in names:
        check_name(name, what)
    return names


def check_no_clashes(names: list[str]) -> None:
    clash = name_clashes(names)
    if clash is not None:
        raise ArchiveError(f"corrupt archive: the header names {clash!r} twice (or as a file and a directory)")
