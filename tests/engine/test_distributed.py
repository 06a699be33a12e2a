"""Two processes on CPU (DDP over gloo): the documented torchrun command, the launcher the gpu
worker uses, cancel, a dying rank, and the repository's accelerate config files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.conftest import preference_rows, write_jsonl
from training.engine import ConfigError, EngineError, Hooks, Progress, train
from training.engine.launch import (
    ACCELERATE_CONFIG_DIR,
    BACKENDS,
    ROOT,
    launch_command,
    train_launched,
)

# 64 pairs, no held-out split: one epoch is 64 / (batch x processes) optimizer steps.
ONE_EPOCH = {
    "per_device_train_batch_size": 4,
    "eval_fraction": 0.0,
    "logging_steps": 2,
    "max_length": 128,
    "learning_rate": 1e-3,
}
# Many short steps, so that a stop or a kill lands in the middle of training.
LONG = {**ONE_EPOCH, "max_steps": 40, "logging_steps": 1, "save_steps": 50}


@pytest.fixture
def pairs64(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pairs64.jsonl", preference_rows(64))


def rank_pids(out: Path) -> dict[int, int]:
    """rank -> pid, as each rank wrote it first thing into OUT/logs/rank-N.log."""
    pids = {}
    for log in sorted((out / "logs").glob("rank-*.log")):
        for match in re.finditer(r"rank (\d+) of \d+ started \(pid (\d+)\)", log.read_text()):
            pids[int(match.group(1))] = int(match.group(2))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def test_every_backend_has_an_accelerate_config_that_accelerate_parses() -> None:
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    expected = {
        "ddp": ("MULTI_GPU", None),
        "fsdp": ("FSDP", None),
        "deepspeed-zero2": ("DEEPSPEED", 2),
        "deepspeed-zero3": ("DEEPSPEED", 3),
    }
    assert set(BACKENDS) == set(expected)
    for backend, (kind, stage) in expected.items():
        path = ACCELERATE_CONFIG_DIR / f"{backend}.yaml"
        args = launch_command_parser().parse_args(
            ["--config_file", str(path), "--num_processes", "4", "-m", "training.engine", "dpo"]
        )
        _, config, _ = _validate_launch_command(args)
        assert config.distributed_type.value == kind, backend
        assert args.num_processes == 4  # the job's `processes` wins over the file's default
        assert args.mixed_precision == "bf16"
        if stage is not None:
            assert args.zero_stage == stage
    # The sharded backends gather a full model when saving (one ordinary model folder).
    zero3 = (ACCELERATE_CONFIG_DIR / "deepspeed-zero3.yaml").read_text()
    assert "zero3_save_16bit_model: true" in zero3
    assert (
        "fsdp_state_dict_type: FULL_STATE_DICT" in (ACCELERATE_CONFIG_DIR / "fsdp.yaml").read_text()
    )


def test_cpu_launch_is_torchrun_over_gloo_and_gpu_launch_is_accelerate(tmp_path: Path) -> None:
    common = {
        "data": "d.jsonl",
        "base": "m",
        "out": tmp_path,
        "config_file": None,
        "reward_model": None,
        "processes": 2,
    }
    cpu, cpu_env = launch_command("dpo", backend="ddp", cuda=False, **common)  # type: ignore[arg-type]
    assert cpu[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert cpu[cpu.index("--nproc_per_node") + 1] == "2"
    assert cpu_env["ACCELERATE_USE_CPU"] == "1"
    assert cpu[cpu.index("training.engine") + 1] == "dpo" and "--events" in cpu

    gpu, gpu_env = launch_command("dpo", backend="deepspeed-zero3", cuda=True, **common)  # type: ignore[arg-type]
    assert gpu[1:3] == ["-m", "accelerate.commands.launch"]
    assert gpu[gpu.index("--config_file") + 1].endswith("config/accelerate/deepspeed-zero3.yaml")
    assert gpu[gpu.index("--num_processes") + 1] == "2"
    assert "ACCELERATE_USE_CPU" not in gpu_env

    with pytest.raises(ConfigError) as caught:
        launch_command("dpo", backend="fsdp", cuda=False, **common)  # type: ignore[arg-type]
    assert caught.value.field == "backend" and "needs GPUs" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        launch_command("dpo", backend="horovod", cuda=True, **common)  # type: ignore[arg-type]
    assert caught.value.field == "backend"


@pytest.mark.slow
def test_documented_torchrun_command_trains_one_model_in_as_many_steps_as_one_process(
    tiny_model: Path, pairs64: Path, tmp_path: Path
) -> None:
    config = tmp_path / "reward.yaml"
    config.write_text(json.dumps(ONE_EPOCH))
    out = tmp_path / "two"
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "training.engine", "reward", "--data", str(pairs64), "--base", str(tiny_model),
         "--out", str(out), "--config", str(config)],
        cwd=ROOT, env={**os.environ, "ACCELERATE_USE_CPU": "1"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    printed = json.loads(completed.stdout)  # one result: rank 1 prints nothing
    # Each rank took batches of 4 from its half of the data: 64 / (4 x 2) = 8 steps.
    assert printed["steps"] == 8 and not printed["cancelled"]
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["steps"] == 8 and card["dataset"]["train_rows"] == 64
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["rank-0.log", "rank-1.log"]
    assert "[rank 1] reward: finished after 8 steps" in (out / "logs" / "rank-1.log").read_text()

    # One process with the same effective batch (8) takes the same number of optimizer steps.
    single = train(
        "reward",
        data=pairs64,
        base=str(tiny_model),
        out=tmp_path / "one",
        config={**ONE_EPOCH, "per_device_train_batch_size": 8},
    )
    assert single.steps == printed["steps"]
    assert abs(single.metrics["train_loss"] - printed["metrics"]["train_loss"]) < 0.15


@pytest.mark.slow
def test_launched_dpo_reports_once_per_step_and_a_stop_ends_every_rank_at_a_checkpoint(
    tiny_model: Path, pairs64: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    reports: list[Progress] = []
    logs: list[str] = []

    def stop_after_two() -> bool:
        return any(p.step >= 2 for p in reports)

    hooks = Hooks(on_progress=reports.append, should_stop=stop_after_two, on_log=logs.append)
    result = train_launched(
        "dpo", data=pairs64, base=str(tiny_model), out=out, config=LONG, hooks=hooks, processes=2
    )

    assert result.cancelled and 2 <= result.steps < 40
    assert (out / "checkpoints" / f"checkpoint-{result.steps}").is_dir()
    assert not (out / "model").exists()
    # Each training step's loss is reported once (rank 1 would report every step again); the
    # closing report (the last) repeats the last step with the summary, as for one process.
    steps = [p.step for p in reports[:-1] if "loss" in p.metrics]
    assert steps == list(range(1, result.steps + 1)), "rank 1 reported too, or a step twice"
    assert any("stop requested" in line for line in logs)
    # Both ranks stopped at the same step, and neither is left running.
    for rank in (0, 1):
        text = (out / "logs" / f"rank-{rank}.log").read_text()
        assert f"cancelled after {result.steps} steps" in text
    assert wait_gone(list(rank_pids(out).values())) == []

    # Launched again on the same folder, both ranks resume from that checkpoint and finish.
    reports.clear()
    resumed = train_launched(
        "dpo", data=pairs64, base=str(tiny_model), out=out, config=LONG, processes=2,
        hooks=Hooks(on_progress=reports.append),
    )  # fmt: skip
    assert not resumed.cancelled and resumed.steps == 40
    assert resumed.card["resumed_from"] == f"checkpoint-{result.steps}"
    assert reports[0].step > result.steps
    assert (out / "model" / "model.safetensors").is_file()
    for rank in (0, 1):
        assert (
            f"resuming from checkpoint-{result.steps}"
            in (out / "logs" / f"rank-{rank}.log").read_text()
        )


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_launch_with_its_last_lines_and_leaves_no_rank(
    tiny_model: Path, pairs64: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    killed: list[int] = []

    def kill_rank_one(progress: Progress) -> None:
        if not killed:
            pid = rank_pids(out)[1]
            os.kill(pid, 9)
            killed.append(pid)

    with pytest.raises(EngineError) as caught:
        train_launched(
            "reward",
            data=pairs64,
            base=str(tiny_model),
            out=out,
            config={**LONG, "max_steps": 400},
            hooks=Hooks(on_progress=kill_rank_one),
            processes=2,
        )
    message = str(caught.value)
    assert message.startswith("rank 1 of 2 (ddp) was killed by SIGKILL")
    assert "last lines of rank 1:" in message and "[rank 1] reward: training reward" in message
    assert wait_gone(list(rank_pids(out).values())) == []


@pytest.mark.slow
def test_a_bad_input_in_a_launch_is_the_engines_own_typed_error(
    tiny_model: Path, pairs64: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        train_launched(
            "dpo",
            data=pairs64,
            base=str(tiny_model),
            out=tmp_path / "run",
            config={"beta": "lots"},
            processes=2,
        )
    assert caught.value.field == "beta"
    assert str(caught.value) == "beta: must be a number, not 'lots'"


def test_processes_and_backend_are_checked_like_any_config_field() -> None:
    from training.engine import config_from_dict

    config = config_from_dict("dpo", {"processes": 4, "backend": "deepspeed-zero3"})
    assert (config.processes, config.backend) == (4, "deepspeed-zero3")
    assert (config_from_dict("reward", {}).processes, config_from_dict("reward", {}).backend) == (
        1,
        "ddp",
    )
    cases: list[tuple[str, dict[str, object], str]] = [
        ("dpo", {"processes": 0}, "processes"),
        ("dpo", {"backend": "horovod", "processes": 2}, "backend"),
        ("dpo", {"backend": "fsdp"}, "backend"),  # a sharded backend with one process
        ("ppo", {"backend": "deepspeed-zero3", "processes": 2}, "backend"),
    ]
    for method, values, field in cases:
        with pytest.raises(ConfigError) as caught:
            config_from_dict(method, values)
        assert caught.value.field == field, (method, values)
