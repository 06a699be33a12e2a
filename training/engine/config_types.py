"""The field types of the engine's configs (training.engine.config): numbers that refuse
true/false, strict booleans and text, the multi-process backends, the pydantic settings."""

import typing
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, StrictBool, StrictStr
from pydantic_core import PydanticCustomError


def _not_bool(kind: str) -> BeforeValidator:
    """pydantic's lax mode reads true as 1; a hyperparameter given as true/false is a mistake."""

    def check(value: object) -> object:
        if isinstance(value, bool):
            raise PydanticCustomError(kind, "bool given for a number")
        return value

    return BeforeValidator(check)


# Field types: whole numbers and numbers accept numeric text and 1.0 for 1, never true/false;
# booleans and text are strict.
Whole = Annotated[int, _not_bool("int_type")]
Number = Annotated[float, _not_bool("float_type")]
Bool = StrictBool
Text = StrictStr

# How several processes share a training job; one accelerate config file each in config/accelerate/.
Backend = Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]
BACKENDS: tuple[str, ...] = typing.get_args(Backend)

PYDANTIC_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
