"""The one list of training methods: `METHODS` (name -> `Method`). The job kinds, the CLI, the
job form, the data checks and the time limits all read it; and the config of a method by name.

Nothing here imports torch or Django.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from training.engine.config import (
    DPOConfig,
    GRPOConfig,
    KTOConfig,
    PPOConfig,
    RewardConfig,
    RLOOConfig,
    TrainConfig,
    build_config,
    class_schema,
)
from training.engine.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Method:
    """One training method: its config, its entry point and the data it reads.

    `columns`/`optional` map a JSONL column to its kind: "text" (a string or a list of
    {role, content} messages), "bool", "number" or "weight" (a number >= 0)."""

    name: str
    label: str
    config: type[TrainConfig]
    entry: str  # "<module under training.engine.methods>.<function>"
    produces: Literal["reward", "policy"]
    needs_reward_model: bool
    columns: Mapping[str, str]
    example: str
    optional: Mapping[str, str] = dataclasses.field(default_factory=dict)
    time_limit_hours: int = 8  # default soft limit of one job (settings.TRAINING_TIME_LIMITS)


_PAIR = {"chosen": "text", "rejected": "text"}
_PAIR_EXAMPLE = '{"prompt": "...", "chosen": "...", "rejected": "..."}'
_PROMPT = {"prompt": "text"}
_PROMPT_EXAMPLE = '{"prompt": "..."}'

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "reward", "Reward model", RewardConfig, "reward.reward_train", "reward", False,
            _PAIR, _PAIR_EXAMPLE,
            optional={"prompt": "text", "margin": "number", "weight": "weight"},
            time_limit_hours=4,
        ),
        Method(
            "dpo", "DPO", DPOConfig, "dpo.dpo_train", "policy", False,
            _PAIR, _PAIR_EXAMPLE, optional={"prompt": "text"},
        ),
        Method(
            "ppo", "PPO", PPOConfig, "ppo.ppo_train", "policy", True,
            _PROMPT, _PROMPT_EXAMPLE, time_limit_hours=12,
        ),
        Method(
            "grpo", "GRPO", GRPOConfig, "online.grpo_train", "policy", True,
            _PROMPT, _PROMPT_EXAMPLE, time_limit_hours=12,
        ),
        Method(
            "rloo", "RLOO", RLOOConfig, "online.rloo_train", "policy", True,
            _PROMPT, _PROMPT_EXAMPLE, time_limit_hours=12,
        ),
        Method(
            "kto", "KTO", KTOConfig, "kto.kto_train", "policy", False,
            {"prompt": "text", "completion": "text", "label": "bool"},
            '{"prompt": "...", "completion": "...", "label": true}',
        ),
    )
}  # fmt: skip


def method_get(method: str) -> Method:
    """The method named `method`; ConfigError(field="method") if there is none."""
    try:
        return METHODS[method]
    except KeyError:
        raise ConfigError(
            f"unknown method {method!r}; expected one of {', '.join(METHODS)}", field="method"
        ) from None


def config_from_dict(method: str, values: Mapping[str, object] | None) -> TrainConfig:
    """Validate and build the method's config.

    An unknown field or a bad value raises ConfigError(field=...)."""
    return build_config(method_get(method).config, values)


def config_coerce(method: str, config: TrainConfig | Mapping[str, object] | None) -> TrainConfig:
    """Accept a config of the right class, a dict, or None (defaults); always re-validated."""
    cls = method_get(method).config
    if config is None or isinstance(config, Mapping):
        return build_config(cls, config)
    if type(config) is not cls:
        raise ConfigError(
            f"{method} needs a {cls.__name__}, got {type(config).__name__}", field="config"
        )
    return build_config(cls, dataclasses.asdict(config))


def config_defaults(method: str) -> dict[str, object]:
    """Default values, JSON-serialisable (for forms)."""
    return dataclasses.asdict(method_get(method).config())


def config_schema(method: str) -> list[dict[str, Any]]:
    """[{name, type, default, help, ...bounds}] of the method's config, for forms and API docs."""
    return class_schema(method_get(method).config)
