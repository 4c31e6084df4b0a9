"""Frame sources and sinks: PNG directories, .npy arrays, video files (PyAV), raw RGB on a pipe.

Sources are read lazily, one frame at a time, so a stream's length never decides memory use. Sinks
write into a temporary file or directory that is renamed only when the whole archive has checked out.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from ..atomic import atomic_file, staging_directory
from ..sources import InputError, safe_output_path

VIDEO_SUFFIXES = {".mkv", ".mp4", ".gif", ".avi", ".webm", ".mov"}
IMAGE_SUFFIXES = {".png", ".ppm", ".bmp"}
NPY_HEADER_BYTES = 256  # fixed, so the frame count can be filled in after streaming
MAX_SIDE = 1 << 14


def _rgb_from_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.width > MAX_SIDE or im.height > MAX_SIDE:
                raise InputError(f"{path}: {im.width}x{im.height} is larger than {MAX_SIDE} pixels a side")
            if im.mode not in ("RGB", "P", "L"):
                raise InputError(f"{path}: mode {im.mode} is not a frame darnzip can restore exactly (need RGB, P or L)")
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc


class FrameSource:
    """A stream of (H, W, 3) uint8 frames with a description for the archive header. `length`: how many
    frames to expect (exact for arrays and image directories, the container's word for video files,
    None for pipes), which sets the chunk cuts (stream.chunk_lengths) and the progress bar's total."""

    def __init__(self, describe: dict, frames: Iterator[np.ndarray], length: int | None, inputs: list[Path]):
        self.describe = describe
        self._frames = frames
        self.length = length
        self.inputs = inputs

    def __iter__(self):
        return self._frames


def directory_source(root: Path) -> FrameSource:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{root}: no PNG/PPM/BMP frames found")
    names = [p.relative_to(root).as_posix() for p in files]
    from ..names import encode_names

    return FrameSource({"type": "images", "names": encode_names(names)},
                       (_rgb_from_image(p) for p in files), len(files), files)


def npy_source(path: Path) -> FrameSource:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from exc
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3:
        raise InputError(f"{path}: frame arrays must be uint8 of shape (frames, height, width, 3), "
                         f"not {array.dtype} {array.shape}")
    return FrameSource({"type": "npy", "name": path.name}, (np.asarray(f) for f in array), len(array), [path])


def video_frame_count(path: Path) -> int | None:
    """The frame count a video file's container states, else its duration times its frame rate (Matroska
    states no count), else None. A hint for cutting chunks and for progress, never trusted as the
    stream's length: frames are counted as they decode."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            if stream.frames > 0:
                return int(stream.frames)
            if container.duration and stream.average_rate:
                return max(1, round(container.duration * float(stream.average_rate) / 1_000_000))
    except (av.error.FFmpegError, OSError, ValueError):
        pass  # decoding reports the error itself
    return None


def video_source(path: Path | BinaryIO, name: str) -> FrameSource:
    import av

    def frames():
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise InputError(f"{name}: no video stream")
                for frame in container.decode(video=0):
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"{name}: video does not decode ({exc})") from exc

    if isinstance(path, Path):
        return FrameSource({"type": "video", "name": name}, frames(), video_frame_count(path), [path])
    return FrameSource({"type": "video", "name": name}, frames(), None, [])  # a pipe: read once, no count


def open_frame_source(path: str) -> FrameSource:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or directory")
    if p.is_dir():
        return directory_source(p)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return npy_source(p)
    if suffix in VIDEO_SUFFIXES:
        return video_source(p, p.name)
    if suffix in IMAGE_SUFFIXES:
        return FrameSource({"type": "images", "names": [p.name]}, iter([_rgb_from_image(p)]), 1, [p])
    raise InputError(f"{path}: not a frame source (need a directory of PNGs, a .npy array or a video file)")


def looks_like_frames(path: str) -> bool:
    """Whether an input is a frame stream rather than binary images: videos, RGB arrays, colour PNGs."""
    p = Path(path)
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return True
    if p.suffix.lower() == ".npy" and p.is_file():
        try:
            array = np.load(p, mmap_mode="r", allow_pickle=False)
            return array.ndim == 4 and array.shape[-1] == 3
        except (ValueError, OSError):
            return False
    first = None
    if p.is_dir():
        first = next((q for q in sorted(p.rglob("*")) if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES), None)
    elif p.suffix.lower() in IMAGE_SUFFIXES:
        first = p
    if first is None:
        return False
    from PIL import Image

    try:
        with Image.open(first) as im:
            if im.mode not in ("RGB", "P"):
                return False
            return len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 2
    except OSError:
        return False


# ---- sinks ---------------------------------------------------------------------------------------------------
class FrameSink:
    """Receives decoded frames in order; `commit` makes the output appear, `abort` leaves nothing behind."""

    def write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class DirectorySink(FrameSink):
    """PNG files in a staging directory (`atomic.staging_directory`), moved into place on commit."""

    def __init__(self, root: Path, names: list[str] | None, force: bool):
        self.root, self.names = Path(root), names
        if names is not None:
            for name in names:
                safe_output_path(self.root, name)
        self.written: list[str] = []
        # Given names are checked for clashes now; numbered names as they are written, before the move.
        self._staging = staging_directory(self.root, names if names is not None else self.written, force)
        self.stage = self._staging.__enter__()

    def _name(self, i: int) -> str:
        if self.names is None:
            return f"frame_{i:06d}.png"
        if i >= len(self.names):
            raise InputError("archive holds more frames than names")
        return self.names[i]

    def write(self, frame: np.ndarray) -> None:
        from PIL import Image

        name = self._name(len(self.written))
        target = safe_output_path(self.stage, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame, "RGB").save(target, format="PNG", compress_level=1)
        self.written.append(name)

    def commit(self) -> None:
        if self.names is not None and len(self.written) != len(self.names):
            raise InputError("archive holds fewer frames than names")
        self._staging.__exit__(None, None, None)

    def abort(self) -> None:
        self._staging.__exit__(*sys.exc_info())


def npy_header(count: int, height: int, width: int) -> bytes:
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d, 3), }" % (count, height, width)
    pad = NPY_HEADER_BYTES - 10 - len(text) - 1
    return b"\x93NUMPY\x01\x00" + (NPY_HEADER_BYTES - 10).to_bytes(2, "little") + text.encode() + b" " * pad + b"\n"


class _FileSink(FrameSink):
    """A sink writing one file through `atomic.atomic_file`: a temp file renamed on commit."""

    def __init__(self, path: Path, force: bool):
        self._output = atomic_file(Path(path), force)
        self.file = self._output.__enter__()

    def _finish(self) -> None:
        pass

    def commit(self) -> None:
        self._finish()
        self._output.__exit__(None, None, None)

    def abort(self) -> None:
        self._output.__exit__(*sys.exc_info())


class NpySink(_FileSink):
    """An (N, H, W, 3) uint8 .npy written frame by frame; the header's count is filled in at the end."""

    def __init__(self, path: Path, force: bool):
        super().__init__(path, force)
        self.file.write(b"\0" * NPY_HEADER_BYTES)
        self.count, self.shape = 0, None

    def write(self, frame: np.ndarray) -> None:
        if self.shape is None:
            self.shape = frame.shape
        elif frame.shape != self.shape:
            raise InputError(f"frames of different sizes ({self.shape} and {frame.shape}) cannot share one .npy")
        self.file.write(np.ascontiguousarray(frame).tobytes())
        self.count += 1

    def _finish(self) -> None:
        h, w = self.shape[:2] if self.shape else (0, 0)
        self.file.seek(0)
        self.file.write(npy_header(self.count, h, w))


class VideoSink(_FileSink):
    """FFV1 in Matroska: lossless for RGB (pix_fmt bgr0)."""

    def __init__(self, path: Path, force: bool, rate: int = 60):
        import av

        super().__init__(path, force)
        self.container = av.open(self.file, mode="w", format="matroska")
        self.stream = None
        self.rate = rate

    def write(self, frame: np.ndarray) -> None:
        import av

        if self.stream is None:
            self.stream = self.container.add_stream("ffv1", rate=self.rate)
            self.stream.width, self.stream.height = frame.shape[1], frame.shape[0]
            self.stream.pix_fmt = "bgr0"
        elif (frame.shape[0], frame.shape[1]) != (self.stream.height, self.stream.width):
            raise InputError("frames of different sizes cannot share one video file")
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self.container.mux(packet)

    def _finish(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        super().abort()


class RawSink(FrameSink):
    """Raw rgb24 bytes, frame after frame (for pipes: `darnzip decompress -c x.dz | ffmpeg -f rawvideo ...`)."""

    def __init__(self, out: BinaryIO):
        self.out = out

    def write(self, frame: np.ndarray) -> None:
        self.out.write(np.ascontiguousarray(frame).tobytes())

    def commit(self) -> None:
        self.out.flush()

