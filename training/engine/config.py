"""One typed config dataclass per training method, with documented defaults, and their validation.

Every field carries its help text and bounds in `metadata`, so `config_schema` can describe it to a
form or the API docs and `config_from_dict` can validate a user's values with the field named in the
error. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from training.engine.errors import ConfigError

METHODS: tuple[str, ...] = ("reward", "dpo", "ppo", "grpo", "rloo", "kto")


def _f(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A field with help text and bounds (minimum/maximum inclusive, above/below strict)."""
    bounds = {"minimum": minimum, "maximum": maximum, "above": above, "below": below}
    meta: dict[str, Any] = {"help": help, **{k: v for k, v in bounds.items() if v is not None}}
    if choices is not None:
        meta["choices"] = choices
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Fields every method shares. Subclasses override `learning_rate` and `max_length` defaults."""

    max_steps: int = _f(
        -1, "Stop after this many optimizer steps; -1 trains for num_train_epochs.", minimum=-1
    )
    num_train_epochs: float = _f(1.0, "Passes over the training split.", above=0)
    learning_rate: float = _f(1e-5, "Peak learning rate (AdamW, linear decay).", above=0)
    per_device_train_batch_size: int = _f(8, "Rows per batch on each device.", minimum=1)
    gradient_accumulation_steps: int = _f(
        1, "Batches accumulated per optimizer step (effective batch = batch x this).", minimum=1
    )
    max_length: int = _f(512, "Longest sequence in tokens (prompt + response).", minimum=8)
    seed: int = _f(42, "Random seed for the split, sampling and initialisation.", minimum=0)
    eval_fraction: float = _f(
        0.1, "Share of rows held out for evaluation (0 disables it).", minimum=0, below=1
    )
    use_lora: bool = _f(False, "Train LoRA adapters instead of all weights.")
    lora_r: int = _f(16, "LoRA rank.", minimum=1)
    lora_alpha: int = _f(32, "LoRA scaling numerator (scale = alpha / r).", minimum=1)
    merge_lora: bool = _f(True, "Merge LoRA adapters into the saved model (else save adapters).")
    save_steps: int = _f(50, "Write a resumable checkpoint every this many steps.", minimum=1)
    logging_steps: int = _f(5, "Report progress and metrics every this many steps.", minimum=1)

    def check(self) -> None:
        """Cross-field rules; subclasses extend it."""
        if self.max_steps == 0:
            raise ConfigError("must be -1 (use epochs) or a positive number", field="max_steps")


@dataclass
class RewardConfig(TrainConfig):
    """Reward model (Bradley-Terry) from preference pairs, with TRL's RewardTrainer."""

    learning_rate: float = _f(1e-4, "Peak learning rate (AdamW, linear decay).", above=0)
    max_length: int = _f(
        1024, "Longest prompt+response in tokens; longer pairs are dropped and counted.", minimum=8
    )
    center_rewards_coefficient: float | None = _f(
        None, "Weight of a loss term that keeps rewards centred on zero (None: off).", minimum=0
    )


@dataclass
class DPOConfig(TrainConfig):
    """Direct Preference Optimization from preference pairs, with TRL's DPOTrainer."""

    learning_rate: float = _f(1e-6, "Peak learning rate (AdamW, linear decay).", above=0)
    max_length: int = _f(
        1024, "Longest prompt+response in tokens; longer ones are truncated.", minimum=8
    )
    beta: float = _f(0.1, "Strength of the pull towards the reference model.", above=0)
    loss_type: str = _f(
        "sigmoid",
        "DPO loss variant.",
        choices=(
            "sigmoid",
            "hinge",
            "ipo",
            "robust",
            "bco_pair",
            "sppo_hard",
            "apo_zero",
            "apo_down",
        ),
    )
    label_smoothing: float = _f(
        0.0, "Assumed share of flipped labels (robust/cDPO).", minimum=0, below=0.5
    )


@dataclass
class KTOConfig(TrainConfig):
    """Kahneman-Tversky Optimization from unpaired good/bad examples, with TRL's KTOTrainer."""

    learning_rate: float = _f(1e-6, "Peak learning rate (AdamW, linear decay).", above=0)
    max_length: int = _f(1024, "Longest prompt+completion in tokens.", minimum=8)
    beta: float = _f(0.1, "Strength of the pull towards the reference model.", above=0)
    desirable_weight: float = _f(1.0, "Loss weight of rows labelled good.", above=0)
    undesirable_weight: float = _f(1.0, "Loss weight of rows labelled bad.", above=0)

    def check(self) -> None:
        super().check()
        if self.per_device_train_batch_size < 2:
            raise ConfigError(
                "KTO needs at least 2 rows per batch", field="per_device_train_batch_size"
            )


@dataclass
class _OnlineConfig(TrainConfig):
    """Online RL with the trained reward model as the reward function (GRPO and RLOO)."""

    learning_rate: float = _f(1e-6, "Peak learning rate (AdamW, linear decay).", above=0)
    max_length: int = _f(
        512, "Longest prompt in tokens; longer prompts are dropped and counted.", minimum=8
    )
    num_generations: int = _f(4, "Completions sampled per prompt (the group).", minimum=2)
    max_completion_length: int = _f(64, "Longest sampled completion in tokens.", minimum=1)
    temperature: float = _f(1.0, "Sampling temperature.", above=0)
    top_p: float = _f(1.0, "Nucleus sampling threshold.", above=0, maximum=1)
    beta: float = _f(
        0.0, "KL penalty towards the reference model (0: no reference model).", minimum=0
    )

    def check(self) -> None:
        super().check()
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ConfigError(
                f"must divide per_device_train_batch_size x gradient_accumulation_steps ({batch})",
                field="num_generations",
            )


@dataclass
class GRPOConfig(_OnlineConfig):
    """Group Relative Policy Optimization, with TRL's GRPOTrainer."""


@dataclass
class RLOOConfig(_OnlineConfig):
    """REINFORCE Leave-One-Out, with TRL's RLOOTrainer."""

    beta: float = _f(
        0.05, "KL penalty towards the reference model (0: no reference model).", minimum=0
    )


@dataclass
class PPOConfig(TrainConfig):
    """Proximal Policy Optimization with a value model, with trl.experimental.ppo (trl <= 1.12)."""

    learning_rate: float = _f(3e-6, "Peak learning rate (AdamW, linear decay).", above=0)
    max_length: int = _f(
        512, "Longest prompt in tokens; longer prompts are dropped and counted.", minimum=8
    )
    response_length: int = _f(64, "Longest sampled response in tokens.", minimum=1)
    temperature: float = _f(0.7, "Sampling temperature of the rollouts.", above=0)
    num_ppo_epochs: int = _f(4, "Optimisation passes over each batch of rollouts.", minimum=1)
    num_mini_batches: int = _f(1, "Minibatches each rollout batch is split into.", minimum=1)
    kl_coef: float = _f(0.05, "KL penalty towards the reference model.", minimum=0)
    cliprange: float = _f(0.2, "Policy ratio clip range.", above=0)
    vf_coef: float = _f(0.1, "Value loss weight.", above=0)
    missing_eos_penalty: float | None = _f(
        None, "Subtracted from the score of a response without an end token (None: off).", minimum=0
    )

    def check(self) -> None:
        super().check()
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_mini_batches:
            raise ConfigError(
                f"must divide per_device_train_batch_size x gradient_accumulation_steps ({batch})",
                field="num_mini_batches",
            )


@dataclass
class GenerateConfig:
    """Sampling of k completions per prompt from a model directory."""

    num_return_sequences: int = _f(2, "Completions per prompt.", minimum=1)
    max_new_tokens: int = _f(64, "Longest completion in tokens.", minimum=1)
    temperature: float = _f(1.0, "Sampling temperature.", above=0)
    top_p: float = _f(0.95, "Nucleus sampling threshold.", above=0, maximum=1)
    seed: int = _f(0, "Random seed; same seed, same model, same prompts: same texts.", minimum=0)
    batch_size: int = _f(8, "Prompts per generation batch.", minimum=1)

    def check(self) -> None:
        return None


CONFIG_CLASSES: dict[str, type[TrainConfig]] = {
    "reward": RewardConfig,
    "dpo": DPOConfig,
    "ppo": PPOConfig,
    "grpo": GRPOConfig,
    "rloo": RLOOConfig,
    "kto": KTOConfig,
}

C = TypeVar("C", TrainConfig, GenerateConfig)


def _config_class(method: str) -> type[TrainConfig]:
    try:
        return CONFIG_CLASSES[method]
    except KeyError:
        raise ConfigError(
            f"unknown method {method!r}; expected one of {', '.join(METHODS)}", field="method"
        ) from None


def _coerce(name: str, hint: Any, value: object) -> object:
    """Check `value` against the type hint; convert harmless cases (1 -> 1.0, "1e-5" -> 1e-5)."""
    optional = False
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if value is None:
        if optional:
            return None
        raise ConfigError("may not be empty", field=name)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"must be true or false, not {value!r}", field=name)
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"must be a whole number, not {value!r}", field=name)
    if hint is float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value.strip())
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError("must be a finite number", field=name)
            return float(value)
        raise ConfigError(f"must be a number, not {value!r}", field=name)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"must be text, not {value!r}", field=name)
    raise ConfigError(f"unsupported type {hint!r}", field=name)  # pragma: no cover


def _check_bounds(f: dataclasses.Field[Any], value: object) -> None:
    meta = f.metadata
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in meta and value < meta["minimum"]:
            raise ConfigError(f"must be at least {meta['minimum']}, got {value}", field=f.name)
        if "maximum" in meta and value > meta["maximum"]:
            raise ConfigError(f"must be at most {meta['maximum']}, got {value}", field=f.name)
        if "above" in meta and value <= meta["above"]:
            raise ConfigError(f"must be greater than {meta['above']}, got {value}", field=f.name)
        if "below" in meta and value >= meta["below"]:
            raise ConfigError(f"must be less than {meta['below']}, got {value}", field=f.name)
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(
            f"must be one of {', '.join(meta['choices'])}, got {value!r}", field=f.name
        )


def build_config(cls: type[C], values: Mapping[str, object] | None) -> C:
    """Validate `values` against the dataclass `cls` and build it; errors name the field."""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError("must be a mapping of field names to values", field="config")
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown field for {cls.__name__}; known fields: {', '.join(fields)}", field=unknown[0]
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        coerced = _coerce(name, hints[name], value)
        if coerced is not None:
            _check_bounds(fields[name], coerced)
        kwargs[name] = coerced
    config = cls(**kwargs)
    config.check()
    return config


def config_from_dict(method: str, values: Mapping[str, object] | None) -> TrainConfig:
    """Validate and build the method's config.

    An unknown field or a bad value raises ConfigError(field=...)."""
    return build_config(_config_class(method), values)


def config_coerce(method: str, config: TrainConfig | Mapping[str, object] | None) -> TrainConfig:
    """Accept a config of the right class, a dict, or None (defaults); always re-validated."""
    cls = _config_class(method)
    if config is None or isinstance(config, Mapping):
        return build_config(cls, config)
    if type(config) is not cls:
        raise ConfigError(
            f"{method} needs a {cls.__name__}, got {type(config).__name__}", field="config"
        )
    return build_config(cls, dataclasses.asdict(config))


def config_defaults(method: str) -> dict[str, object]:
    """Default values, JSON-serialisable (for forms)."""
    return dataclasses.asdict(_config_class(method)())


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return f"{args[0].__name__} | null"
    return str(hint.__name__)


def config_schema(method: str) -> list[dict[str, Any]]:
    """[{name, type, default, help, ...bounds}] for forms and API docs."""
    cls = _config_class(method)
    hints = typing.get_type_hints(cls)
    schema = []
    for f in dataclasses.fields(cls):
        entry: dict[str, Any] = {
            "name": f.name,
            "type": _type_name(hints[f.name]),
            "default": f.default,
            "help": f.metadata.get("help", ""),
        }
        for key in ("minimum", "maximum", "above", "below"):
            if key in f.metadata:
                entry[key] = f.metadata[key]
        if "choices" in f.metadata:
            entry["choices"] = list(f.metadata["choices"])
        schema.append(entry)
    return schema
