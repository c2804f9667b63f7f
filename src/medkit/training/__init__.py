"""The one torch training loop used by every deep model in medkit.

Importing this package imports torch; pillars import it inside their fit methods
or modules that already need torch.
"""

from medkit.training.config import TrainConfig
from medkit.training.loop import Trainer, TrainResult, predict_batches

__all__ = ["TrainConfig", "TrainResult", "Trainer", "predict_batches"]
