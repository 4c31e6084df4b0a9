"""Sharded compression on a local Dask cluster: the same bytes as one process, and back exactly."""
import io

import numpy as np
import pytest

from darnzip.scale import NpyShards, compress_image_shards, decompress_image_shards

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def digit_shards(tmp_path, shards: int, per_shard: int) -> NpyShards:
    from darnzip.images.datasets import load_binary_mnist

    test = load_binary_mnist("test")
    paths = []
    for shard in range(shards):
        path = tmp_path / f"shard-{shard}.npy"
        np.save(path, np.roll(test[shard * per_shard:(shard + 1) * per_shard], (shard % 3, shard // 3), (1, 2)))
        paths.append(path)
    return NpyShards(paths)


def test_a_two_worker_cluster_writes_the_bytes_one_process_writes_and_they_decode(client, tmp_path):
    shards = digit_shards(tmp_path, 5, 120)
    alone, spread = io.BytesIO(), io.BytesIO()
    compress_image_shards(shards, len(shards), alone, particles=1, chunk_size=50)
    written = []
    compress_image_shards(shards, len(shards), spread, client=client, particles=1, chunk_size=50, window=3,
                          on_shard=lambda k, n: written.append((k, n)))
    assert spread.getvalue() == alone.getvalue()
    assert [k for k, _ in written] == list(range(5)) and sum(n for _, n in written) == len(alone.getvalue())
    archive = tmp_path / "all.dz"
    archive.write_bytes(spread.getvalue())
    for k, images in enumerate(decompress_image_shards(str(archive), client=client)):
        assert np.array_equal(images, shards(k))
    # the joined file is one archive to the rest of darnzip: random access and the whole array
    import darnzip

    with darnzip.open_archive(archive) as opened:
        assert opened.count == 600 and len(opened.members) == 5 and len(opened.chunks) == 15
        assert np.array_equal(opened.read(230, 250), np.concatenate([shards(1)[110:], shards(2)[:10]]))
    assert np.array_equal(darnzip.decompress_images(archive.read_bytes()), np.concatenate([shards(k) for k in range(5)]))


def test_a_shard_that_fails_stops_the_run_with_its_error(client, tmp_path):
    shards = NpyShards([tmp_path / "missing.npy"])
    with pytest.raises(FileNotFoundError):
        compress_image_shards(shards, 1, io.BytesIO(), client=client)
