"""--embed-model: the model's block for an archive, and the two-part code line that list and compress print."""
from __future__ import annotations


def embedded_block(loaded) -> bytes:
    """The model's files as the block --embed-model puts in front of the archive (darnzip.core.embedded)."""
    from darnzip.core.embedded import embedded_model_bytes

    return embedded_model_bytes(loaded.weights_path, loaded.model_id, loaded.sha256)


def embedded_note(model_bytes: int, data_bytes: int, count: int, unit: str) -> str:
    """The two-part code of an archive that carries its model: the model's bytes plus the data's."""
    if not model_bytes:
        return ""
    total = model_bytes + data_bytes
    return (f"; model embedded: {model_bytes} + {data_bytes} bytes of data = {total} bytes, "
            f"{8 * total / max(1, count):.2f} bits/{unit} with the model")
