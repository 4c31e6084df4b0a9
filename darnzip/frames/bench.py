"""Side-by-side figures for a frame stream: darnzip against stream codecs on the palette-index stream.

Every codec's output is decoded again and compared with its input before its size counts.
"""
from __future__ import annotations

import bz2
import dataclasses
import io
import lzma
import time

import numpy as np
import zstandard

from .container import FrameArchiveReader
from .palette import pack_rgb
from .stream import FrameStreamStats, compress_frames, decompress_frames

__all__ = ["byte_codecs", "context_gain", "darnzip_codecs", "index_stream", "round_trip", "video_codecs"]  # the public names (docs/api.md)


def cpu_check(rounds: int = 1500) -> float:
    """Seconds for a fixed CPU-bound workload (a Python loop and a numpy sum, one thread): how fast the
    machine is right now. On this project's shared 2-core machines a loop like it took 0.49 s and 0.91 s
    minutes apart, pinned to one core, with no steal time counted, and darnzip's rates swing with it; the
    bench records it beside darnzip's runs, so that a rate can be read against the machine's state."""
    values = np.linspace(0.0, 1.0, 1 << 16, dtype=np.float32)
    start = time.perf_counter()
    total = 0.0
    for _ in range(rounds):
        total += float((values * 1.0001).sum())
        count = 0
        for j in range(3000):
            count += j
    return time.perf_counter() - start


@dataclasses.dataclass
class CodecResult:
    """One codec's size and timings; with several timed runs (`repeat`), each run's seconds, of which
    the median is the figure reported (these machines' speed swings up to ~1.8x within minutes: `cpu_check`)."""
    name: str
    bytes: int | None
    compress_runs: list[float] = dataclasses.field(default_factory=list)
    decompress_runs: list[float] = dataclasses.field(default_factory=list)
    note: str = ""
    cpu_checks: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # `cpu_check` before, after

    @property
    def compress_s(self) -> float:
        return float(np.median(self.compress_runs)) if self.compress_runs else 0.0

    @property
    def decompress_s(self) -> float:
        return float(np.median(self.decompress_runs)) if self.decompress_runs else 0.0


def index_stream(rgb: np.ndarray) -> np.ndarray:
    """Frames as indices into their own sorted palette (what the classical codecs compress)."""
    _, inverse = np.unique(pack_rgb(rgb).ravel(), return_inverse=True)
    return inverse.reshape(rgb.shape[:3]).astype(np.uint8)


def _timed(compress, decompress, data: bytes, name: str, repeat: int = 1) -> CodecResult:
    result = CodecResult(name, None)
    for _ in range(repeat):
        t0 = time.perf_counter()
        packed = compress(data)
        t1 = time.perf_counter()
        restored = decompress(packed)
        t2 = time.perf_counter()
        if restored != data or result.bytes not in (None, len(packed)):
            return CodecResult(name, None, note="round trip FAILED")
        result.bytes = len(packed)
        result.compress_runs.append(t1 - t0)
        result.decompress_runs.append(t2 - t1)
    return result


def byte_codecs(idx: np.ndarray, repeat: int = 1) -> list[CodecResult]:
    data = idx.tobytes()
    params = zstandard.ZstdCompressionParameters.from_level(22, window_log=27, enable_ldm=True)
    return [
        _timed(lambda d: bz2.compress(d, 9), bz2.decompress, data, "bzip2 -9 (idx)", repeat),
        _timed(lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME), lzma.decompress, data, "xz -9e (idx)",
               repeat),
        _timed(lambda d: zstandard.ZstdCompressor(compression_params=params).compress(d),
               lambda p: zstandard.ZstdDecompressor(max_window_size=1 << 27).decompress(p), data,
               "zstd -22 --long=27 (idx)", repeat),
    ]


def _video_round_trip(idx: np.ndarray, codec: str, options: dict, pix_fmt: str) -> tuple[bytes, np.ndarray]:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as out:
        stream = out.add_stream(codec, rate=60, options=options)
        stream.width, stream.height, stream.pix_fmt = idx.shape[2], idx.shape[1], pix_fmt
        for frame in idx:
            if pix_fmt == "yuv444p":  # indices in Y, flat chroma: x264's lossless mode needs 4:4:4
                planes = np.stack([frame, np.full_like(frame, 128), np.full_like(frame, 128)])
                video_frame = av.VideoFrame.from_ndarray(planes, format="yuv444p")
            else:
                video_frame = av.VideoFrame.from_ndarray(frame, format="gray")
            for packet in stream.encode(video_frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = buffer.getvalue()
    with av.open(io.BytesIO(data)) as src:
        if pix_fmt == "yuv444p":
            frames = [f.to_ndarray(format="yuv444p")[0] for f in src.decode(video=0)]
        else:
            frames = [f.to_ndarray(format="gray") for f in src.decode(video=0)]
    return data, np.stack(frames)


def video_codecs(idx: np.ndarray, repeat: int = 1) -> list[CodecResult]:
    try:
        import av  # noqa: F401
    except ImportError:
        return [CodecResult("x264 / FFV1", None, note="skipped: PyAV not installed")]
    results = []
    for name, codec, options, pix_fmt in (("x264 qp0 (idx)", "libx264", {"qp": "0", "preset": "medium"}, "yuv444p"),
                                          ("FFV1 (idx)", "ffv1", {}, "gray")):
        result = CodecResult(name, None, note="encode+decode time")
        for _ in range(repeat):
            try:
                t0 = time.perf_counter()
                data, restored = _video_round_trip(idx, codec, options, pix_fmt)
                elapsed = time.perf_counter() - t0
            except Exception as exc:  # a codec missing from this FFmpeg build
                result = CodecResult(name, None, note=f"skipped: {exc}")
                break
            if not (restored.shape == idx.shape and np.array_equal(restored, idx)):
                result = CodecResult(name, None, note="round trip FAILED")
                break
            result.bytes = len(data)
            result.compress_runs.append(elapsed)
        results.append(result)
    return results


@dataclasses.dataclass
class RoundTrip:
    archive: bytes
    stats: FrameStreamStats
    compress_s: float
    decompress_s: float
    exact: bool  # every frame decoded back as it was


def round_trip(rgb: np.ndarray, loaded, workers: int, chunk_frames: int, source: dict | None = None) -> RoundTrip:
    """Compress `rgb` in memory as a stream of known length (described by `source` in the header, as
    `compress` describes its input), then decode it and compare."""
    buffer = io.BytesIO()
    t0 = time.perf_counter()
    stats = compress_frames(buffer, iter(rgb), source or {"type": "npy", "name": "bench.npy"}, loaded, chunk_frames,
                            workers, total=len(rgb))
    t1 = time.perf_counter()
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(buffer.getvalue())), loaded, workers))
    t2 = time.perf_counter()
    exact = len(decoded) == len(rgb) and all(np.array_equal(a, b) for a, b in zip(rgb, decoded))
    return RoundTrip(buffer.getvalue(), stats, t1 - t0, t2 - t1, exact)


def darnzip_codecs(rgb: np.ndarray, models: list, workers: int, chunk_frames: int, repeat: int = 1):
    """darnzip's round trip of `rgb` with each of `models`, `repeat` times, the models taking turns in
    every round so that they share the machine's fast and slow minutes (each model's archives must be the
    same bytes every time): a (result, stream statistics of its first run) pair per model."""
    results = [CodecResult(f"darnzip ({loaded.model_id})", None) for loaded in models]
    archives, stats = [None] * len(models), [None] * len(models)
    for _ in range(repeat):
        for i, loaded in enumerate(models):
            if results[i].note:
                continue
            before = cpu_check()
            run = round_trip(rgb, loaded, workers, chunk_frames)
            stats[i] = stats[i] or run.stats
            if not run.exact or archives[i] not in (None, run.archive):
                results[i].note = "round trip FAILED" if not run.exact else "FAILED: the runs' archives differ"
                results[i].bytes = None
                continue
            archives[i] = run.archive
            results[i].bytes = len(run.archive)
            results[i].compress_runs.append(run.compress_s)
            results[i].decompress_runs.append(run.decompress_s)
            results[i].cpu_checks.append((before, cpu_check()))
    return list(zip(results, stats))


def darnzip_codec(rgb: np.ndarray, loaded, workers: int, chunk_frames: int, repeat: int = 1):
    """`darnzip_codecs` with one model."""
    return darnzip_codecs(rgb, [loaded], workers, chunk_frames, repeat)[0]


def context_gain(rgb: np.ndarray, loaded, frames: int = 200) -> tuple[float, float]:
    """Free energy (bits/frame) of the first `frames` frames with temporal context, and of the same frames
    with the same model when every frame's context is a reference frame alone (no previous frames, no older
    frames to copy from): the model's reference frame that the frame differs from least, as a key frame
    would take."""
    import constriction

    chunk_codec = loaded.chunk_codec()
    codec = chunk_codec.codec
    indexed = []
    for frame in rgb[:frames]:  # up to the first frame the model cannot code
        idx = loaded.palette.indices(frame) if frame.shape[:2] == loaded.reference.shape else None
        if idx is None:
            break
        indexed.append(idx)
    if not indexed:
        return float("nan"), float("nan")
    with_context = without = 0.0
    coder = constriction.stream.stack.AnsCoder(np.full(64, 0x5A5A5A5A, dtype=np.uint32))  # bits to pop from
    for t in range(len(indexed) - 1, -1, -1):
        prev = indexed[t - 1] if t >= 1 else loaded.reference
        prev2 = indexed[t - 2] if t >= 2 else None
        with_context += codec.push(coder, indexed[t], prev, prev2, older=chunk_codec.older(t, indexed)).free_energy
        nearest = loaded.references[chunk_codec.nearest_reference(indexed[t])[0]]
        without += codec.push(coder, indexed[t], nearest, None).free_energy
    return with_context / len(indexed), without / len(indexed)
