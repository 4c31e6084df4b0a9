"""--embed-model: the model's block for an archive, and the two-part code line that list and compress print."""
from __future__ import annotations

from darnzip.core.embedded import embedded_block, two_part_code  # noqa: F401  (the commands' names for them)


def embedded_note(model_bytes: int, data_bytes: int, count: int, unit: str) -> str:
    """The two-part code of an archive that carries its model: the model's bytes plus the data's."""
    if not model_bytes:
        return ""
    total = model_bytes + data_bytes
    return (f"; model embedded: {model_bytes} + {data_bytes} bytes of data = {total} bytes, "
            f"{8 * total / max(1, count):.2f} bits/{unit} with the model")


def two_part_line(figures: dict, unit: str) -> str:
    return (f"  two-part code (model + data)  {figures[f'two_part_bits_per_{unit}']:9.2f} bits/{unit}"
            f"  (the model, compressed as --embed-model stores it: {figures['model_bits']} bits)")
