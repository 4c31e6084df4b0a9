"""Outputs appear whole or not at all, never over something that appeared meanwhile, on the output's own
filesystem, and a killed run's debris is removed by the next."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from darnzip.core.atomic import OutputExists, atomic_file, remove_stale_temporaries, staging_directory
from darnzip_cli.main import main

GOLDEN = Path(__file__).parent.parent / "golden"


def a_dead_pid() -> int:
    """A pid that runs no process now: a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_file_that_appears_while_writing_is_not_replaced(tmp_path):
    """Two writers of one name without -f: the second to finish is refused, the first's file stays."""
    target = tmp_path / "same.dz"
    with pytest.raises(OutputExists):
        with atomic_file(target, force=False) as f:
            f.write(b"mine")
            target.write_bytes(b"theirs")  # another darnzip finished first
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["same.dz"]
    with atomic_file(target, force=True) as f:  # -f replaces it
        f.write(b"mine")
    assert target.read_bytes() == b"mine"


def test_a_restored_file_that_appears_meanwhile_takes_back_the_files_already_placed(tmp_path):
    root = tmp_path / "out"
    with pytest.raises(OutputExists):
        with staging_directory(root, ["a.png", "b.png", "c.png"], force=False) as stage:
            for name in ("a.png", "b.png", "c.png"):
                (stage / name).write_bytes(name.encode())
            root.mkdir()
            (root / "b.png").write_bytes(b"theirs")
    assert sorted(p.name for p in root.iterdir()) == ["b.png"] and (root / "b.png").read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_existing_output_directory_is_staged_inside_itself(tmp_path):
    """A mount point (or a link to another filesystem) as -o: the stage beside it would be on another
    device, and moving from it failed with "Invalid cross-device link"."""
    root = tmp_path / "mounted"
    root.mkdir()
    with staging_directory(root, ["x.png"], force=False) as stage:
        assert stage.parent == root
        (stage / "x.png").write_bytes(b"x")
    assert [p.name for p in root.iterdir()] == ["x.png"]


@pytest.mark.skipif(not (os.path.ismount("/dev/shm") and os.access("/dev/shm", os.W_OK)
                         and os.stat("/dev/shm").st_dev != os.stat("/dev").st_dev),
                    reason="needs /dev/shm as a writable mount point of its own")
def test_decompress_into_a_mount_point(tmp_path):
    tag = uuid.uuid4().hex[:12]
    src = tmp_path / "in"
    src.mkdir()
    images = np.load(GOLDEN / "factorised-images.npy")[:2]
    for i, image in enumerate(images):
        Image.fromarray((image * 255).astype(np.uint8)).save(src / f"{tag}-{i}.png")
    archive = tmp_path / "a.dz"
    model = GOLDEN / "factorised-model.safetensors"
    runner = CliRunner()
    assert runner.invoke(main, ["compress", str(src), "-o", str(archive), "--model", str(model), "-T", "1"]).exit_code == 0
    try:
        result = runner.invoke(main, ["decompress", str(archive), "-o", "/dev/shm", "--model", str(model), "-T", "1"])
        assert result.exit_code == 0, result.output
        for i in range(2):
            assert (Path("/dev/shm") / f"{tag}-{i}.png").read_bytes() == (src / f"{tag}-{i}.png").read_bytes()
        assert not [p for p in Path("/dev/shm").iterdir() if tag in p.name and ".darnzip-" in p.name]
    finally:
        for p in Path("/dev/shm").glob(f"{tag}-*"):
            p.unlink()


def test_a_killed_runs_temporaries_are_removed_by_the_next_run_and_a_live_ones_are_not(tmp_path):
    dead, alive = a_dead_pid(), os.getppid()
    stale_file = tmp_path / f".x.dz.darnzip-{dead}-abc123.tmp"
    stale_dir = tmp_path / f".out.darnzip-{dead}-def456.stage"
    live_file = tmp_path / f".x.dz.darnzip-{alive}-ghi789.tmp"
    not_ours = tmp_path / ".x.dz.abc.tmp"
    for path in (stale_file, live_file, not_ours):
        path.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "a.png").write_bytes(b"half")
    with atomic_file(tmp_path / "x.dz", force=False) as f:
        f.write(b"whole")
    assert not stale_file.exists() and not stale_dir.exists()
    assert live_file.exists() and not_ours.exists() and (tmp_path / "x.dz").read_bytes() == b"whole"
    assert remove_stale_temporaries(tmp_path) == []


def test_kill_9_during_compress_leaves_debris_that_the_next_compress_removes(tmp_path):
    """A real darnzip killed with SIGKILL mid-write, then run again on the same output."""
    images = np.load(GOLDEN / "factorised-images.npy")
    np.save(tmp_path / "x.npy", np.concatenate([images] * 4000))
    model = GOLDEN / "factorised-model.safetensors"
    args = [sys.executable, "-m", "darnzip_cli", "compress", str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.dz"),
            "--model", str(model), "-T", "1", "-q", "--chunk-size", "64"]
    proc = subprocess.Popen(args, cwd=Path(__file__).parent.parent.parent)
    deadline = 60.0
    import time

    start = time.time()
    while time.time() - start < deadline and not [p for p in tmp_path.iterdir() if ".darnzip-" in p.name]:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    debris = [p for p in tmp_path.iterdir() if ".darnzip-" in p.name]
    assert debris, "the run was killed before it began writing"
    assert not (tmp_path / "x.dz").exists()
    again = subprocess.run(args, cwd=Path(__file__).parent.parent.parent)
    assert again.returncode == 0
    assert not [p for p in tmp_path.iterdir() if ".darnzip-" in p.name]
