"""The command line reruns a job from a terminal and reports bad input as one line."""

import json
from pathlib import Path

import pytest

from tests.engine.conftest import QUESTIONS, write_jsonl
from training.engine.cli import main


@pytest.mark.slow
def test_cli_trains_from_a_yaml_config_and_prints_the_result(
    tiny_model: Path, pairs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dpo.yaml"
    config.write_text("max_steps: 2\nlearning_rate: 1e-3\nper_device_train_batch_size: 4\n")

    out = str(tmp_path / "run")
    code = main(
        ["dpo", "--data", str(pairs_file), "--base", str(tiny_model), "--out", out,
         "--config", str(config)]
    )  # fmt: skip

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 2 and Path(printed["model_dir"], "card.json").is_file()


def test_cli_reports_a_bad_config_field_in_one_line(
    tiny_model: Path, pairs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("beta: lots\n")

    out = str(tmp_path / "run")
    code = main(
        ["dpo", "--data", str(pairs_file), "--base", str(tiny_model), "--out", out,
         "--config", str(config)]
    )  # fmt: skip

    assert code == 2
    assert capsys.readouterr().err.strip() == "error: beta: must be a number, not 'lots'"


def test_cli_generates_completions_for_a_prompt_file(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": q} for q in QUESTIONS[:2]])
    config = tmp_path / "gen.yaml"
    config.write_text("num_return_sequences: 3\nmax_new_tokens: 5\n")

    code = main(
        ["generate", "--model", str(tiny_model), "--prompts", str(prompts), "--config", str(config)]
    )

    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(line["completions"]) for line in lines] == [3, 3]
    assert lines[0]["prompt"] == [{"role": "user", "content": QUESTIONS[0]}]
