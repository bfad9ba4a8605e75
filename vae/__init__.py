"""VAE Latent Explorer core: datasets, models, losses, training, checkpoints and inference (no UI)."""

from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.errors import VaeError

__all__ = ["ConfigError", "DataConfig", "ModelConfig", "TrainConfig", "VaeError"]
__version__ = "0.1.0"
