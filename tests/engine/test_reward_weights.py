"""The reward method's ``weight`` column (the export's ``weight=reliability``): each pair's
loss counts with its weight."""

from pathlib import Path

import pytest

from tests.engine.conftest import FAST, preference_rows, weights_changed, write_jsonl
from training.engine import train
from training.engine.errors import DataError

pytestmark = pytest.mark.slow

LAYER = "model.layers.0.self_attn.q_proj.weight"


def _train(tiny_model: Path, tmp_path: Path, name: str, weights: list[float] | None) -> Path:
    rows = preference_rows(16, conversational=False)
    if weights is not None:
        for row, weight in zip(rows, weights, strict=True):
            row["weight"] = weight
    data = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    config = {**FAST, "eval_fraction": 0.0}
    return train(
        "reward", data=data, base=str(tiny_model), out=tmp_path / name, config=config
    ).model_dir


def _distance(a: Path, b: Path) -> float:
    """The largest difference of one tensor between two saved models."""
    from safetensors.torch import load_file

    old = load_file(str(a / "model.safetensors"))[LAYER]
    new = load_file(str(b / "model.safetensors"))[LAYER]
    return float((old - new).abs().max())


def test_the_loss_is_weight_averaged_and_weight_zero_teaches_nothing(
    tiny_model: Path, tmp_path: Path
) -> None:
    # (The first run in a process starts from another random state, so it is not compared.)
    zeros = _train(tiny_model, tmp_path, "zeros", [0.0] * 16)
    ones = _train(tiny_model, tmp_path, "ones", [1.0] * 16)
    twos = _train(tiny_model, tmp_path, "twos", [2.0] * 16)
    assert weights_changed(tiny_model, ones, LAYER)
    # A weighted mean: scaling every weight changes nothing (up to float rounding).
    assert _distance(ones, twos) < 1e-3 * _distance(tiny_model, ones)
    assert not weights_changed(tiny_model, zeros, LAYER)  # no pair counts: no gradient


def test_a_negative_weight_is_refused_naming_the_line(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 3: column 'weight' must be a number >= 0"):
        _train(tiny_model, tmp_path, "bad", [1.0, 0.5, -1.0] + [1.0] * 13)
