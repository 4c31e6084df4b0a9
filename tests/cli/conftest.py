"""The frame models the frame CLI tests run on are the frame tests' fixtures."""
from ..frames.conftest import (any_model, class_model, context_model, frame_model, history_model,  # noqa: F401
                               linear_model, moving_model, row_model)
