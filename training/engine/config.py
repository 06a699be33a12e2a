"""One typed config dataclass per training method, validated by pydantic, and the table of methods.

Each config is a pydantic dataclass: a field's type, default, help (`description`) and bounds
(`ge`/`le` inclusive, `gt`/`lt` strict, a `Literal` for choices) are declared once, on the field.
pydantic checks and coerces values (1 -> 1.0, "1e-5" -> 1e-5); `build_config` turns its errors
into a `ConfigError` naming the field, `config_schema` describes the fields to a form or the API
docs. Cross-field rules live in each class's `check`, run by pydantic after the fields.

The one list of training methods is `training.engine.catalog.METHODS`. Nothing here imports
torch or Django.

To add a field: declare it on the class, `name: Type = Field(default=..., description=..., ge=...)`.
To add a method: write its config class here and its `training.engine.methods` module, then add
one `Method` row to `training.engine.catalog.METHODS`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, Union

import annotated_types
from pydantic import Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass

from training.engine.config_types import BACKENDS as BACKENDS
from training.engine.config_types import PYDANTIC_CONFIG, Backend, Bool, Number, Whole
from training.engine.errors import ConfigError
from training.engine.hardware import Precision


@dataclass(config=PYDANTIC_CONFIG)
class TrainConfig:
    """Fields every method shares. Subclasses override `learning_rate` and `max_length` defaults."""

    max_steps: Whole = Field(
        default=-1,
        description="Stop after this many optimizer steps; -1 trains for num_train_epochs.",
        ge=-1,
    )
    num_train_epochs: Number = Field(
        default=1.0, description="Passes over the training split.", gt=0
    )
    learning_rate: Number = Field(
        default=1e-5, description="Peak learning rate (AdamW, linear decay).", gt=0
    )
    per_device_train_batch_size: Whole = Field(
        default=8, description="Rows per batch on each device.", ge=1
    )
    gradient_accumulation_steps: Whole = Field(
        default=1,
        description="Batches accumulated per optimizer step (effective batch = batch x this).",
        ge=1,
    )
    max_length: Whole = Field(
        default=512, description="Longest sequence in tokens (prompt + response).", ge=8
    )
    seed: Whole = Field(
        default=42, description="Random seed for the split, sampling and initialisation.", ge=0
    )
    eval_fraction: Number = Field(
        default=0.1,
        description="Share of rows held out for evaluation (0 disables it).",
        ge=0,
        lt=1,
    )
    use_lora: Bool = Field(default=False, description="Train LoRA adapters instead of all weights.")
    lora_r: Whole = Field(default=16, description="LoRA rank.", ge=1)
    lora_alpha: Whole = Field(
        default=32, description="LoRA scaling numerator (scale = alpha / r).", ge=1
    )
    merge_lora: Bool = Field(
        default=True, description="Merge LoRA adapters into the saved model (else save adapters)."
    )
    precision: Precision = Field(
        default="auto",
        description=(
            "Arithmetic: auto is bf16 mixed precision where the hardware does bf16 natively (a "
            "CUDA GPU with bf16, or a CPU with AVX-512 BF16 or AMX), else fp32; bf16 or fp32 "
            "force one. The card records which one ran."
        ),
    )
    save_steps: Whole = Field(
        default=50, description="Write a resumable checkpoint every this many steps.", ge=1
    )
    logging_steps: Whole = Field(
        default=5, description="Report progress and metrics every this many steps.", ge=1
    )
    processes: Whole = Field(
        default=1,
        description=(
            "Processes (one per GPU) that train together; more than 1 starts the engine as that "
            "many ranks under accelerate launch (torchrun on CPU). Effective batch = batch x "
            "accumulation x processes."
        ),
        ge=1,
        le=64,
    )
    backend: Backend = Field(
        default="ddp",
        description=(
            "How the ranks share the work (config/accelerate/<backend>.yaml): ddp splits the "
            "data, deepspeed-zero2 also the optimizer state, deepspeed-zero3 and fsdp the "
            "weights too. GPUs only, except ddp."
        ),
    )

    @model_validator(mode="after")
    def _cross_field(self) -> TrainConfig:
        self.check()
        return self

    def check(self) -> None:
        """Cross-field rules (raise ConfigError naming the field); subclasses extend it."""
        if self.max_steps == 0:
            raise ConfigError("must be -1 (use epochs) or a positive number", field="max_steps")
        if self.backend != "ddp" and self.processes < 2:
            raise ConfigError(f"{self.backend} needs processes of 2 or more", field="backend")


_LR = "Peak learning rate (AdamW, linear decay)."


@dataclass(config=PYDANTIC_CONFIG)
class RewardConfig(TrainConfig):
    """Reward model (Bradley-Terry) from preference pairs, with TRL's RewardTrainer."""

    learning_rate: Number = Field(default=1e-4, description=_LR, gt=0)
    max_length: Whole = Field(
        default=1024,
        description="Longest prompt+response in tokens; longer pairs are truncated (prompt start).",
        ge=8,
    )
    center_rewards_coefficient: Number | None = Field(
        default=None,
        description="Weight of a loss term that keeps rewards centred on zero (None: off).",
        ge=0,
    )


@dataclass(config=PYDANTIC_CONFIG)
class DPOConfig(TrainConfig):
    """Direct Preference Optimization from preference pairs, with TRL's DPOTrainer."""

    learning_rate: Number = Field(default=1e-6, description=_LR, gt=0)
    max_length: Whole = Field(
        default=1024,
        description="Longest prompt+response in tokens; longer ones are truncated.",
        ge=8,
    )
    beta: Number = Field(
        default=0.1, description="Strength of the pull towards the reference model.", gt=0
    )
    loss_type: Literal[
        "sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "apo_zero", "apo_down"
    ] = Field(default="sigmoid", description="DPO loss variant.")
    label_smoothing: Number = Field(
        default=0.0, description="Assumed share of flipped labels (robust/cDPO).", ge=0, lt=0.5
    )


@dataclass(config=PYDANTIC_CONFIG)
class KTOConfig(TrainConfig):
    """Kahneman-Tversky Optimization from unpaired good/bad examples, with TRL's KTOTrainer."""

    learning_rate: Number = Field(default=1e-6, description=_LR, gt=0)
    max_length: Whole = Field(
        default=1024, description="Longest prompt+completion in tokens.", ge=8
    )
    beta: Number = Field(
        default=0.1, description="Strength of the pull towards the reference model.", gt=0
    )
    desirable_weight: Number = Field(
        default=1.0, description="Loss weight of rows labelled good.", gt=0
    )
    undesirable_weight: Number = Field(
        default=1.0, description="Loss weight of rows labelled bad.", gt=0
    )

    def check(self) -> None:
        super().check()
        if self.per_device_train_batch_size < 2:
            raise ConfigError(
                "KTO needs at least 2 rows per batch", field="per_device_train_batch_size"
            )


@dataclass(config=PYDANTIC_CONFIG)
class _OnlineConfig(TrainConfig):
    """Online RL with the trained reward model as the reward function (GRPO and RLOO)."""

    learning_rate: Number = Field(default=1e-6, description=_LR, gt=0)
    max_length: Whole = Field(
        default=512,
        description="Longest prompt in tokens; longer prompts are dropped and counted.",
        ge=8,
    )
    num_generations: Whole = Field(
        default=4, description="Completions sampled per prompt (the group).", ge=2
    )
    max_completion_length: Whole = Field(
        default=64, description="Longest sampled completion in tokens.", ge=1
    )
    temperature: Number = Field(default=1.0, description="Sampling temperature.", gt=0)
    top_p: Number = Field(default=1.0, description="Nucleus sampling threshold.", gt=0, le=1)
    beta: Number = Field(
        default=0.0,
        description="KL penalty towards the reference model (0: no reference model).",
        ge=0,
    )
    use_vllm: Bool = Field(
        default=False,
        description=(
            "Sample rollouts with vLLM on the training GPUs where vLLM is installed and a GPU "
            "is present (requirements-gpu.txt); otherwise transformers, with a message."
        ),
    )

    def check(self) -> None:
        super().check()
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ConfigError(
                f"must divide per_device_train_batch_size x gradient_accumulation_steps ({batch})",
                field="num_generations",
            )


@dataclass(config=PYDANTIC_CONFIG)
class GRPOConfig(_OnlineConfig):
    """Group Relative Policy Optimization, with TRL's GRPOTrainer."""


@dataclass(config=PYDANTIC_CONFIG)
class RLOOConfig(_OnlineConfig):
    """REINFORCE Leave-One-Out, with TRL's RLOOTrainer."""

    beta: Number = Field(
        default=0.05,
        description="KL penalty towards the reference model (0: no reference model).",
        ge=0,
    )


@dataclass(config=PYDANTIC_CONFIG)
class PPOConfig(TrainConfig):
    """Proximal Policy Optimization with a value model, with trl.experimental.ppo (trl <= 1.12)."""

    learning_rate: Number = Field(default=3e-6, description=_LR, gt=0)
    max_length: Whole = Field(
        default=512,
        description="Longest prompt in tokens; longer prompts are dropped and counted.",
        ge=8,
    )
    response_length: Whole = Field(
        default=64, description="Longest sampled response in tokens.", ge=1
    )
    temperature: Number = Field(
        default=0.7, description="Sampling temperature of the rollouts.", gt=0
    )
    num_ppo_epochs: Whole = Field(
        default=4, description="Optimisation passes over each batch of rollouts.", ge=1
    )
    num_mini_batches: Whole = Field(
        default=1, description="Minibatches each rollout batch is split into.", ge=1
    )
    kl_coef: Number = Field(
        default=0.05, description="KL penalty towards the reference model.", ge=0
    )
    cliprange: Number = Field(default=0.2, description="Policy ratio clip range.", gt=0)
    vf_coef: Number = Field(default=0.1, description="Value loss weight.", gt=0)
    missing_eos_penalty: Number | None = Field(
        default=None,
        description="Subtracted from the score of a response without an end token (None: off).",
        ge=0,
    )

    def check(self) -> None:
        super().check()
        if self.backend in ("fsdp", "deepspeed-zero3"):
            raise ConfigError(
                "PPO (TRL's own loop) runs on ddp or deepspeed-zero2 only", field="backend"
            )
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_mini_batches:
            raise ConfigError(
                f"must divide per_device_train_batch_size x gradient_accumulation_steps ({batch})",
                field="num_mini_batches",
            )


@dataclass(config=PYDANTIC_CONFIG)
class GenerateConfig:
    """Sampling of k completions per prompt from a model directory."""

    num_return_sequences: Whole = Field(default=2, description="Completions per prompt.", ge=1)
    max_new_tokens: Whole = Field(default=64, description="Longest completion in tokens.", ge=1)
    temperature: Number = Field(default=1.0, description="Sampling temperature.", gt=0)
    top_p: Number = Field(default=0.95, description="Nucleus sampling threshold.", gt=0, le=1)
    seed: Whole = Field(
        default=0, description="Random seed; same seed, same model, same prompts: same texts.", ge=0
    )
    batch_size: Whole = Field(default=8, description="Prompts per generation batch.", ge=1)


# --- validation -----------------------------------------------------------------------------

C = TypeVar("C", TrainConfig, GenerateConfig)

_MESSAGES = {
    "bool_type": "must be true or false, not {input!r}",
    "bool_parsing": "must be true or false, not {input!r}",
    "int_type": "must be a whole number, not {input!r}",
    "int_parsing": "must be a whole number, not {input!r}",
    "int_from_float": "must be a whole number, not {input!r}",
    "float_type": "must be a number, not {input!r}",
    "float_parsing": "must be a number, not {input!r}",
    "finite_number": "must be a finite number",
    "string_type": "must be text, not {input!r}",
    "greater_than_equal": "must be at least {ge}, got {input}",
    "less_than_equal": "must be at most {le}, got {input}",
    "greater_than": "must be greater than {gt}, got {input}",
    "less_than": "must be less than {lt}, got {input}",
    "literal_error": "must be one of {expected}, got {input!r}",
}


def _config_error(cls: type[Any], exc: PydanticValidationError) -> ConfigError:
    """pydantic's first error as a ConfigError naming the field, in the engine's words."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "config"
    if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        return ConfigError(f"unknown field for {cls.__name__}; known fields: {known}", field=name)
    if error["input"] is None:
        return ConfigError("may not be empty", field=name)
    template = _MESSAGES.get(error["type"])
    if template is None:
        return ConfigError(error["msg"], field=name)
    context = dict(error.get("ctx") or {})
    if "expected" in context:  # pydantic writes "'a', 'b' or 'c'"
        context["expected"] = context["expected"].replace("'", "").replace(" or ", ", ")
    return ConfigError(template.format(input=error["input"], **context), field=name)


def build_config(cls: type[C], values: Mapping[str, object] | None) -> C:
    """Validate `values` against the config class `cls` and build it; errors name the field."""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError("must be a mapping of field names to values", field="config")
    try:
        kwargs: dict[str, Any] = dict(values or {})
        return cls(**kwargs)
    except PydanticValidationError as exc:
        raise _config_error(cls, exc) from None


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the field's base type, whether None is allowed), through Optional and Annotated."""
    optional = False
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return hint, optional


_BOUNDS = {
    annotated_types.Ge: ("minimum", "ge"),
    annotated_types.Le: ("maximum", "le"),
    annotated_types.Gt: ("above", "gt"),
    annotated_types.Lt: ("below", "lt"),
}


def class_schema(cls: type[Any]) -> list[dict[str, Any]]:
    """[{name, type, default, help, minimum/maximum (inclusive), above/below (strict),
    choices}] of a config class, for forms and API docs."""
    schema = []
    for name, info in cls.__pydantic_fields__.items():
        hint, optional = _unwrap(info.annotation)
        entry: dict[str, Any] = {"name": name, "default": info.default, "help": info.description}
        if typing.get_origin(hint) is Literal:
            entry["type"] = "str"
            entry["choices"] = list(typing.get_args(hint))
        else:
            entry["type"] = hint.__name__ + (" | null" if optional else "")
        for bound in info.metadata:
            if type(bound) in _BOUNDS:
                key, attr = _BOUNDS[type(bound)]
                entry[key] = getattr(bound, attr)
        schema.append(entry)
    return schema
