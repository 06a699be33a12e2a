"""Bad input is refused with a clear error before any model is trained."""

from pathlib import Path

import pytest

from tests.engine.conftest import preference_rows, write_jsonl
from training.engine import ConfigError, DataError, ModelNotFoundError, train


def _refused(tmp_path: Path, error: type[Exception], match: str, **kwargs: object) -> None:
    arguments: dict[str, object] = {"out": tmp_path / "run", "config": {"max_steps": 1}}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        train(**arguments)  # type: ignore[arg-type]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_empty_file_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text("\n\n")
    _refused(tmp_path, DataError, "has no rows", method="dpo", data=data, base=str(tiny_model))


def test_json_array_is_refused_as_the_wrong_format(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "pairs.json"
    data.write_text('[{"prompt": "a", "chosen": "b", "rejected": "c"}]')
    _refused(tmp_path, DataError, "JSON array", method="reward", data=data, base=str(tiny_model))


def test_invalid_json_line_is_named(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(2))
    data.write_text(data.read_text() + "{not json\n")
    _refused(tmp_path, DataError, "line 3: not valid JSON", method="dpo", data=data, base="x")


def test_missing_column_is_named_with_its_line(tiny_model: Path, tmp_path: Path) -> None:
    rows = preference_rows(3)
    del rows[1]["rejected"]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    _refused(
        tmp_path,
        DataError,
        "line 2: missing column 'rejected'",
        method="reward",
        data=data,
        base=str(tiny_model),
    )


def test_kto_needs_a_boolean_label(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "kto.jsonl", [{"prompt": "Hi", "completion": " Hello", "label": "yes"}]
    )
    _refused(
        tmp_path, DataError, "'label' must be true or false", method="kto", data=data, base="x"
    )


def test_missing_data_file_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    _refused(
        tmp_path,
        DataError,
        "does not exist",
        method="dpo",
        data=tmp_path / "nope.jsonl",
        base=str(tiny_model),
    )


def test_base_model_path_that_does_not_exist(tmp_path: Path, pairs_file: Path) -> None:
    _refused(
        tmp_path,
        ModelNotFoundError,
        "does not exist",
        method="dpo",
        data=pairs_file,
        base=str(tmp_path / "no-such-model"),
    )


def test_directory_without_a_model_is_refused(tmp_path: Path, pairs_file: Path) -> None:
    (tmp_path / "empty-dir").mkdir()
    _refused(
        tmp_path,
        ModelNotFoundError,
        "no config.json",
        method="reward",
        data=pairs_file,
        base=str(tmp_path / "empty-dir"),
    )


def test_online_methods_need_a_reward_model(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Hi"}])
    with pytest.raises(ConfigError) as caught:
        train("grpo", data=data, base=str(tiny_model), out=tmp_path / "run")
    assert caught.value.field == "reward_model"


def test_bad_config_is_refused_with_its_field(tiny_model: Path, pairs_file: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        train("dpo", data=pairs_file, base=str(tiny_model), out="unused", config={"beta": -1})
    assert caught.value.field == "beta"
