"""The universal frame model: one DARN for any palette stream of any size, whose count tables adapt to the
stream while it is coded (see coder.py)."""
