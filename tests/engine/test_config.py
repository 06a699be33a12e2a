import json

import pytest

from training.engine import (
    METHODS,
    ConfigError,
    DPOConfig,
    config_defaults,
    config_from_dict,
    config_schema,
)


def test_values_are_validated_and_coerced_into_the_methods_dataclass() -> None:
    config = config_from_dict("dpo", {"beta": 0.2, "learning_rate": "5e-6", "max_steps": 10.0})
    assert isinstance(config, DPOConfig)
    assert (config.beta, config.learning_rate, config.max_steps) == (0.2, 5e-6, 10)


@pytest.mark.parametrize(
    ("method", "values", "field"),
    [
        ("dpo", {"bogus": 1}, "bogus"),
        ("reward", {"learning_rate": 0}, "learning_rate"),
        ("reward", {"learning_rate": "fast"}, "learning_rate"),
        ("dpo", {"loss_type": "nonsense"}, "loss_type"),
        ("kto", {"use_lora": "yes"}, "use_lora"),
        ("reward", {"eval_fraction": 1.0}, "eval_fraction"),
        ("reward", {"max_steps": 0}, "max_steps"),
        ("grpo", {"num_generations": 3}, "num_generations"),
        ("ppo", {"num_mini_batches": 3}, "num_mini_batches"),
        ("sft", {}, "method"),
    ],
)
def test_bad_value_names_the_field(method: str, values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(method, values)
    assert caught.value.field == field


@pytest.mark.parametrize("method", METHODS)
def test_defaults_and_schema_are_json_and_agree(method: str) -> None:
    defaults = config_defaults(method)
    schema = config_schema(method)
    json.dumps(defaults)
    json.dumps(schema)
    assert {entry["name"]: entry["default"] for entry in schema} == defaults
    assert all(entry["help"] for entry in schema)
    assert config_from_dict(method, defaults) == config_from_dict(method, None)
