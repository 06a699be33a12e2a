"""A run survives a crash (resume from the last checkpoint) and stops cleanly when cancelled."""

import json
from pathlib import Path

import pytest

from tests.engine.conftest import FAST, preference_rows, write_jsonl
from training.engine import Hooks, Progress, train

pytestmark = pytest.mark.slow

CONFIG = {**FAST, "max_steps": 6, "eval_fraction": 0.0}


class Crash(Exception):
    pass


def test_run_resumes_from_last_checkpoint_after_a_crash(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(16))

    def crash_at_step_3(progress: Progress) -> None:
        if progress.step == 3:
            raise Crash

    with pytest.raises(Crash):
        train(
            "reward",
            data=data,
            base=str(tiny_model),
            out=tmp_path / "run",
            config=CONFIG,
            hooks=Hooks(on_progress=crash_at_step_3),
        )
    assert (tmp_path / "run/checkpoints/checkpoint-2").is_dir()
    assert not (tmp_path / "run/model").exists()

    steps_seen: list[int] = []
    result = train(
        "reward",
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=CONFIG,
        hooks=Hooks(on_progress=lambda p: steps_seen.append(p.step)),
    )

    assert result.steps == 6
    assert result.card["resumed_from"] == "checkpoint-2"
    assert min(steps_seen) == 3  # steps 1 and 2 were not trained again


def test_cancel_stops_between_steps_and_leaves_a_resumable_run(
    tiny_model: Path, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(16))
    polls: list[int] = []
    reports: list[Progress] = []

    def stop_after_three_steps() -> bool:
        polls.append(1)
        return len(polls) >= 3

    result = train(
        "dpo",
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=CONFIG,
        hooks=Hooks(should_stop=stop_after_three_steps, on_progress=reports.append),
    )

    assert result.cancelled and result.steps == 3
    assert (reports[-1].step, reports[-1].total_steps) == (3, 6)
    assert result.card["status"] == "cancelled"
    assert not result.model_dir.exists()
    state = json.loads((tmp_path / "run/checkpoints/checkpoint-3/trainer_state.json").read_text())
    assert state["global_step"] == 3

    resumed = train("dpo", data=data, base=str(tiny_model), out=tmp_path / "run", config=CONFIG)
    assert resumed.steps == 6 and not resumed.cancelled
    assert resumed.card["resumed_from"] == "checkpoint-3"
    assert (resumed.model_dir / "model.safetensors").is_file()


def test_resume_skips_a_checkpoint_left_half_written_by_a_killed_worker(tmp_path: Path) -> None:
    from training.engine.runtime import last_checkpoint

    complete = tmp_path / "checkpoint-10"
    complete.mkdir()
    (complete / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-15").mkdir()  # killed mid-save: weights, no trainer state yet
    assert last_checkpoint(tmp_path) == str(complete)
