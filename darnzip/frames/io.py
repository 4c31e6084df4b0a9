"""Frame sources and sinks: PNG directories, .npy arrays, video files (PyAV), raw RGB on a pipe.

Sources are read lazily, one frame at a time, so a stream's length never decides memory use. Sinks
write into a temporary file or directory that is renamed only when the whole archive has checked out.
"""
from __future__ import annotations

import contextlib
import io
import struct
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from darnzip.core.atomic import atomic_file, staging_directory
from darnzip.core.inputs import STDIN_STEM, InputError, files_below, safe_output_path

__all__ = ["IMAGE_SUFFIXES", "ImageFileSink", "ImageStreamSink", "NPY_MAGIC", "PeekedStream", "RawSink",
           "file_sink", "looks_like_frames", "open_frame_source", "stdin_frame_source"]  # the public names (docs/api.md)

VIDEO_SUFFIXES = {".mkv", ".mp4", ".gif", ".avi", ".webm", ".mov"}
IMAGE_SUFFIXES = {".png", ".ppm", ".bmp"}
NPY_HEADER_BYTES = 256  # fixed, so the frame count can be filled in after streaming
MAX_SIDE = 1 << 14
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rgb_from_image(path: Path | BinaryIO, name: str | None = None) -> np.ndarray:
    """One image file (or an open one, named `name` in errors) as (H, W, 3) uint8."""
    from PIL import Image, UnidentifiedImageError

    path_name = path if name is None else name
    try:
        with Image.open(path) as im:
            if im.width > MAX_SIDE or im.height > MAX_SIDE:
                raise InputError(f"{path_name}: {im.width}x{im.height} is larger than {MAX_SIDE} pixels a side")
            if im.mode not in ("RGB", "P", "L"):
                raise InputError(f"{path_name}: mode {im.mode} is not a frame darnzip can restore exactly "
                                 "(need RGB, P or L)")
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        detail = str(exc) if name is None else str(exc).replace(repr(path), repr(name))  # not the object's repr
        raise InputError(f"{path_name}: not a readable image ({detail})") from exc


def _is_colour_image(image) -> bool:
    """Whether an open image is a colour frame rather than a binary one: RGB or palette with more than two
    colours (binary images are 1-bit or grey, or two-colour RGB). RGBA counts as colour, so that the frame
    side names why it is refused (the binary side refused it too, sending the user to --frames first)."""
    if image.mode in ("RGBA", "RGBa"):
        return True
    if image.mode not in ("RGB", "P"):
        return False
    return len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 2


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
    files = files_below(root, IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{root}: no PNG/PPM/BMP frames found")
    names = [p.relative_to(root).as_posix() for p in files]
    from darnzip.core.names import encode_names

    return FrameSource({"type": "images", "names": encode_names(names)},
                       (_rgb_from_image(p) for p in files), len(files), files)


def _check_frame_array(name: str, dtype: np.dtype, shape: tuple) -> None:
    if dtype != np.uint8 or len(shape) != 4 or shape[3] != 3:
        raise InputError(f"{name}: frame arrays must be uint8 of shape (frames, height, width, 3), not {dtype} {shape}")


def npy_source(path: Path) -> FrameSource:
    """An RGB .npy file, read frame by frame as from a pipe. Mapping it instead counted every page read
    in the process's memory: 10,000 Pong frames (1 GB) compressed at 1.4 GB peak RSS, against 0.54 GB
    read in turn, as 1,000 frames are."""
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from exc
    try:
        shape, fortran, dtype = _read_npy_header(stream)
    except ValueError as exc:
        stream.close()
        raise InputError(f"{path}: not a readable .npy array ({exc})") from exc
    if fortran:  # a frame's bytes are strided through the whole file: read it mapped
        stream.close()
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        _check_frame_array(str(path), array.dtype, array.shape)
        return FrameSource({"type": "npy", "name": path.name}, (np.asarray(f) for f in array), len(array), [path])
    return _npy_frames(stream, str(path), path.name, shape, dtype, [path], close=True)


def _npy_frames(stream: BinaryIO, label: str, name: str, shape: tuple, dtype: np.dtype, inputs: list[Path],
                close: bool = False) -> FrameSource:
    """The frames of a C-ordered .npy array whose header has been read off `stream`, one read each."""
    _check_frame_array(label, dtype, shape)
    count, height, width, _ = shape
    if height > MAX_SIDE or width > MAX_SIDE:
        raise InputError(f"{label}: {width}x{height} is larger than {MAX_SIDE} pixels a side")
    frame_bytes = height * width * 3

    def frames():
        try:
            for i in range(count):
                data = _read_up_to(stream, frame_bytes)
                if len(data) < frame_bytes:
                    raise InputError(f"{label}: the array ends in frame {i} of the {count} its header states")
                yield np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
        finally:
            if close:
                stream.close()

    return FrameSource({"type": "npy", "name": name}, frames(), count, inputs)


# ---- pipes ---------------------------------------------------------------------------------------------------
NPY_MAGIC = b"\x93NUMPY"
# Matroska/WebM (EBML), GIF, NUT; MP4/MOV ("ftyp" at byte 4) and AVI (RIFF....AVI ) are tested apart
_VIDEO_MAGIC = (b"\x1a\x45\xdf\xa3", b"GIF87a", b"GIF89a", b"nut/multimedia")


class _Replay(io.RawIOBase):
    """Bytes already read off a stream, then the rest of the stream."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = memoryview(head), stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if len(self._head):
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read = getattr(self._stream, "read1", self._stream.read)
        data = read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream (a pipe may deliver less per read)."""
    parts, have = [], 0
    while have < size:
        part = stream.read(size - have)
        if not part:
            break
        parts.append(part)
        have += len(part)
    return b"".join(parts)


class PeekedStream:
    """A pipe whose first bytes (a .npy array's whole header) have been read to tell what it holds;
    `reader` gives them back before the rest, so nothing is lost and nothing else is buffered."""

    def __init__(self, stream: BinaryIO, size: int = 16):
        head = _read_up_to(stream, size)
        if head.startswith(NPY_MAGIC) and len(head) >= 12:
            # the header's length: 2 bytes after a version 1 magic, 4 after versions 2 and 3
            length, start = (struct.unpack_from("<H", head, 8)[0], 10) if head[6] == 1 else \
                (struct.unpack_from("<I", head, 8)[0], 12)
            head += _read_up_to(stream, min(start + length, 1 << 20) - len(head))
        if head.startswith(PNG_MAGIC):  # one image: read whole, to be judged colour or binary by its pixels
            head += stream.read()
        self.head = head
        self.reader: BinaryIO = io.BufferedReader(_Replay(head, stream))

    @property
    def is_png(self) -> bool:
        return self.head.startswith(PNG_MAGIC)

    def npy_header(self) -> tuple[tuple, bool, np.dtype] | None:
        """(shape, Fortran order, dtype) if the stream is a .npy array whose header reads, else None."""
        if not self.head.startswith(NPY_MAGIC):
            return None
        with contextlib.suppress(ValueError):
            return _read_npy_header(io.BytesIO(self.head))
        return None

    @property
    def holds_frames(self) -> bool:
        """An RGB array (frames, height, width, 3) or a video container: a frame stream, not binary images."""
        header = self.npy_header()
        if header is not None:
            return len(header[0]) == 4 and header[0][3] == 3
        head = self.head
        if self.is_png:
            from PIL import Image

            try:
                with Image.open(io.BytesIO(head)) as im:
                    return _is_colour_image(im)
            except OSError:
                return False  # the binary-image reader names the damage
        return head.startswith(_VIDEO_MAGIC) or head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")


def _read_npy_header(stream: BinaryIO) -> tuple[tuple, bool, np.dtype]:
    """(shape, Fortran order, dtype) off a .npy stream, leaving it at the first byte of data."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version in ((2, 0), (3, 0)):  # 3.0 differs only in a UTF-8 header, which a uint8 array's never needs
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")


def npy_stream_source(stream: BinaryIO, name: str) -> FrameSource:
    """An RGB .npy array read from a pipe one frame at a time (memory does not grow with its length); its
    header states the frame count."""
    try:
        shape, fortran, dtype = _read_npy_header(stream)
    except ValueError as exc:
        raise InputError(f"{name}: not a readable .npy array ({exc})") from exc
    if fortran:
        raise InputError(f"{name}: a Fortran-ordered array cannot be read frame by frame; save it in C order")
    return _npy_frames(stream, name, name, shape, dtype, [])


def stdin_frame_source(peeked: PeekedStream) -> FrameSource:
    """A frame stream on standard input: an RGB .npy array, one PNG (restored as stdin.png), else a video."""
    if peeked.head.startswith(NPY_MAGIC):
        return npy_stream_source(peeked.reader, f"{STDIN_STEM}.npy")
    if peeked.is_png:
        frame = _rgb_from_image(io.BytesIO(peeked.head), STDIN_STEM)
        return FrameSource({"type": "images", "names": [f"{STDIN_STEM}.png"]}, iter([frame]), 1, [])
    if peeked.head.startswith(GIF_MAGIC):
        return gif_source(io.BytesIO(peeked.reader.read()), "stdin")
    return video_source(peeked.reader, "stdin")


GIF_MAGIC = b"GIF8"


def gif_source(path: Path | BinaryIO, name: str) -> FrameSource:
    """An animated GIF, read with Pillow: ffmpeg's GIF demuxer returned one frame of a five-frame GIF whose
    frames have no delay, and a frame lost is data lost. Each frame is the whole canvas as shown."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            count = getattr(image, "n_frames", 1)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(f"{name}: GIF does not decode ({exc})") from None
    if not isinstance(path, Path):
        path.seek(0)

    def frames():
        try:
            with Image.open(path) as image:
                for frame in ImageSequence.Iterator(image):
                    yield np.asarray(frame.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{name}: GIF does not decode ({exc})") from None

    return FrameSource({"type": "video", "name": name}, frames(), count, [path] if isinstance(path, Path) else [])


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
    """A video's frames as RGB; its frame rate goes into the header ("fps": [numerator, denominator]) as
    soon as the container is open (before the first frame, so before the header is written), so that a
    video restores at the rate it had."""
    import av

    describe = {"type": "video", "name": name}

    def frames():
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise InputError(f"{name}: no video stream")
                rate = container.streams.video[0].average_rate
                if rate and 0 < rate.numerator <= MAX_RATE_TERM and 0 < rate.denominator <= MAX_RATE_TERM:
                    describe["fps"] = [rate.numerator, rate.denominator]
                for frame in container.decode(video=0):
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"{name}: video does not decode ({exc})") from exc

    if isinstance(path, Path):
        return FrameSource(describe, frames(), video_frame_count(path), [path])
    return FrameSource(describe, frames(), None, [])  # a pipe: read once, no count


MAX_RATE_TERM = 1 << 20


def open_frame_source(path: str) -> FrameSource:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or directory")
    if p.is_dir():
        return directory_source(p)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return npy_source(p)
    if suffix == ".gif":
        return gif_source(p, p.name)
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
        first = next(iter(files_below(p, IMAGE_SUFFIXES)), None)
    elif p.suffix.lower() in IMAGE_SUFFIXES:
        first = p
    if first is None:
        return False
    from PIL import Image

    try:
        with Image.open(first) as im:
            return _is_colour_image(im)
    except OSError:
        return False


# ---- sinks ---------------------------------------------------------------------------------------------------
class FrameSink:
    """Receives decoded frames in order; `commit` makes the output appear, `abort` leaves nothing behind.
    As a context manager: committed when the block ends, aborted if it raises (Ctrl-C included)."""

    def write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


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
        name = self._name(len(self.written))
        target = safe_output_path(self.stage, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(frame, target)
        self.written.append(name)

    def commit(self) -> None:
        if self.names is not None and len(self.written) != len(self.names):
            raise InputError("archive holds fewer frames than names")
        self._staging.__exit__(None, None, None)

    def abort(self) -> None:
        self._staging.__exit__(*sys.exc_info())


def save_image(frame: np.ndarray, target, name: str | None = None) -> None:
    """An RGB frame as the image format its name's suffix says (PNG, PPM or BMP: each lossless for RGB).
    Every frame was written as PNG data, also into files named .bmp or .ppm."""
    from PIL import Image

    suffix = Path(name if name is not None else target).suffix.lower()
    image_format = {".ppm": "PPM", ".bmp": "BMP"}.get(suffix, "PNG")
    options = {"compress_level": 1} if image_format == "PNG" else {}
    Image.fromarray(frame, "RGB").save(target, format=image_format, **options)


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


class ImageFileSink(_FileSink):
    """The one frame of an archive made from one image, as an image file (format by its suffix)."""

    def __init__(self, path: Path, force: bool):
        super().__init__(path, force)
        self.path, self.count = Path(path), 0

    def write(self, frame: np.ndarray) -> None:
        if self.count:
            raise InputError("archive holds more than one frame; name an output directory with -o")
        save_image(frame, self.file, self.path.name)
        self.count += 1

    def _finish(self) -> None:
        if not self.count:
            raise InputError("archive holds no frame")


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

    def __init__(self, path: Path, force: bool, rate=60):
        """`rate`: frames per second, a number or a Fraction (the source video's, as its archive records it)."""
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


def file_sink(path: Path, force: bool, names: list[str] | None = None, fps: list[int] | None = None) -> FrameSink:
    """The sink an output name asks for: x.npy an array, x.mkv FFV1 video (at `fps`, the source's rate,
    else 60), anything else a directory of PNGs (named `names`, else numbered). Other video suffixes are
    refused: darnzip writes video losslessly as FFV1 in Matroska only, and a directory named clip.mp4
    surprised its user."""
    from fractions import Fraction

    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return NpySink(Path(path), force)
    if suffix == ".mkv":
        return VideoSink(Path(path), force, Fraction(*fps) if fps else 60)
    if suffix in VIDEO_SUFFIXES:
        raise InputError(f"{path}: darnzip restores video losslessly as .mkv (FFV1); name the output .mkv, "
                         ".npy or a directory")
    return DirectorySink(Path(path), names, force)


class ImageStreamSink(FrameSink):
    """The one frame of an archive made from one image, as that image file's bytes on a stream (`-c`),
    written only once the archive has checked out."""

    def __init__(self, out: BinaryIO, name: str):
        self.out, self.name, self.frame = out, name, None

    def write(self, frame: np.ndarray) -> None:
        if self.frame is not None:
            raise InputError("archive holds more than one frame")
        self.frame = frame

    def commit(self) -> None:
        if self.frame is None:
            raise InputError("archive holds no frame")
        buffer = io.BytesIO()
        save_image(self.frame, buffer, self.name)
        self.out.write(buffer.getvalue())
        self.out.flush()


class RawSink(FrameSink):
    """Raw rgb24 bytes, frame after frame (for pipes: `darnzip decompress -c x.dz | ffmpeg -f rawvideo ...`)."""

    def __init__(self, out: BinaryIO):
        self.out = out

    def write(self, frame: np.ndarray) -> None:
        self.out.write(np.ascontiguousarray(frame).tobytes())

    def commit(self) -> None:
        self.out.flush()

