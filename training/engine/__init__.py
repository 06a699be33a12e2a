"""The training engine: reward models, DPO, PPO, GRPO, RLOO and KTO on TRL, as plain Python.

It never imports Django, and imports torch, transformers, trl, peft and datasets only inside the
functions that need them, so importing this package is cheap. Inputs are plain (a JSONL file, a
config dataclass), outputs are plain (a model directory with a card.json, metrics).
"""

from training.engine.catalog import (
    METHODS,
    Method,
    config_defaults,
    config_from_dict,
    config_schema,
    method_get,
)
from training.engine.config import (
    DPOConfig,
    GenerateConfig,
    GRPOConfig,
    KTOConfig,
    PPOConfig,
    RewardConfig,
    RLOOConfig,
    TrainConfig,
)
from training.engine.errors import (
    ConfigError,
    DataError,
    EngineError,
    ModelImportError,
    ModelNotFoundError,
)
from training.engine.evaluate import (
    evaluate_reward_accuracy,
    evaluate_text_metrics,
    evaluate_win_rate,
)
from training.engine.generate import generate
from training.engine.gguf_import import ImportedModel, gguf_import
from training.engine.results import Hooks, Progress, TrainResult, WinRate
from training.engine.run import train
from training.engine.tiny import build_tiny_model

__all__ = [
    "METHODS",
    "ConfigError",
    "DPOConfig",
    "DataError",
    "EngineError",
    "GRPOConfig",
    "GenerateConfig",
    "Hooks",
    "ImportedModel",
    "KTOConfig",
    "Method",
    "ModelImportError",
    "ModelNotFoundError",
    "PPOConfig",
    "Progress",
    "RLOOConfig",
    "RewardConfig",
    "TrainConfig",
    "TrainResult",
    "WinRate",
    "build_tiny_model",
    "config_defaults",
    "config_from_dict",
    "config_schema",
    "evaluate_reward_accuracy",
    "evaluate_text_metrics",
    "evaluate_win_rate",
    "generate",
    "gguf_import",
    "method_get",
    "train",
]
