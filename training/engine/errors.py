"""The engine's error types. Messages are user-facing: they say what is wrong and where."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EngineError):
    """A hyperparameter is unknown or has a bad value; `field` names it."""

    code = "config_error"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class DataError(EngineError):
    """The data file is missing, empty, not JSONL, or lacks a column (message names row/column)."""

    code = "data_error"


class ModelNotFoundError(EngineError):
    """A base or reward model path or hub id cannot be loaded."""

    code = "model_not_found"


class ModelImportError(EngineError):
    """A model file cannot be imported: missing, not the format it claims, or an architecture
    transformers cannot load (the message says which)."""

    code = "model_import_error"
