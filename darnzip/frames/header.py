"""The frame archive's header, checked field by field as soon as it is read (list, test and decompress
alike), with the checks it shares with binary archives (darnzip.core.fields)."""
from __future__ import annotations

from darnzip.core.fields import check_model_record, check_name, check_names, check_no_clashes, require
from darnzip.core.names import MAX_NAMES
from darnzip.core.records import whole_in_range

SOURCE_TYPES = {"images", "npy", "video"}


def check_frame_header(header: dict, max_chunk_frames: int) -> None:
    """Raise ArchiveError unless the model record, the chunk size and the source are what readers rely on:
    an image directory's names (each restorable, none twice), or an array's or video's one name."""
    check_model_record(header.get("model"))
    require(whole_in_range(header.get("chunk_frames"), 1, max_chunk_frames), "chunk_frames")
    source = header.get("source")
    require(isinstance(source, dict) and source.get("type") in SOURCE_TYPES, "source")
    if source["type"] == "images":
        check_no_clashes(check_names(source.get("names"), MAX_NAMES, "source.names"))
    else:
        check_name(source.get("name"), "source.name")
    if "fps" in source:  # a video's frame rate, numerator and denominator
        fps = source["fps"]
        require(isinstance(fps, list) and len(fps) == 2 and all(whole_in_range(v, 1, 1 << 20) for v in fps),
                "source.fps")
