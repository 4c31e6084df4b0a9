"""Small pieces of the CLI's wording."""


def quantity(n: int, noun: str) -> str:
    """'1 chunk', '2 chunks': a count with its noun, plural unless it is one."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
