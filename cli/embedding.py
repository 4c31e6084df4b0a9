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


def two_part_code(loaded, data_bits: float, count: int, unit: str) -> dict:
    """The MDL figures of report: the model's bits (its --embed-model block) plus the data's."""
    model_bits = 8 * len(embedded_block(loaded))
    return {"model_bits": model_bits, f"two_part_bits_per_{unit}": (model_bits + data_bits) / max(1, count)}


def two_part_line(figures: dict, unit: str) -> str:
    return (f"  two-part code (model + data)  {figures[f'two_part_bits_per_{unit}']:9.2f} bits/{unit}"
            f"  (the model, compressed as --embed-model stores it: {figures['model_bits']} bits)")
