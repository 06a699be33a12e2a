"""Train with more than one process: start the engine under a launcher and supervise it.

`train_launched` has `train`'s signature plus `processes` and `backend`, and returns the same
`TrainResult`; the caller's hooks are called in the caller's own thread, exactly as for one
process. The child is the engine's command line:

- on GPUs: `accelerate launch --config_file config/accelerate/<backend>.yaml --num_processes N
  -m training.engine METHOD ... --events --stop-file OUT/STOP` (Accelerate drives torchrun, and
  DeepSpeed ZeRO or FSDP behind it, as the config file says);
- on CPU: `ACCELERATE_USE_CPU=1 torchrun --standalone --nproc_per_node N -m training.engine ...`
  (DDP over gloo; `accelerate launch --cpu --num_processes N` starts only one process). Only
  `ddp` runs on CPU: FSDP and DeepSpeed need GPUs.

How the two sides talk (see `training.engine.distributed`): rank 0 prints protocol lines on
stdout (progress, log, result, error); the launcher asks for a stop by creating `OUT/STOP`,
which rank 0 checks after every optimizer step and shares with the other ranks, so all of them
checkpoint and stop at the same step. Every rank also logs to `OUT/logs/rank-N.log`.

No orphan ranks: the launcher process gets SIGTERM when the process that started it dies (Linux
`PR_SET_PDEATHSIG`; torchrun then stops its ranks), and each rank exits by itself when its
launcher is gone. A rank that dies makes the launcher stop the others; the job fails with that
rank's last log lines in its error.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from training.engine.config import BACKENDS
from training.engine.distributed import event_parse, log_tail
from training.engine.errors import ConfigError, DataError, EngineError, ModelNotFoundError
from training.engine.results import Hooks, Progress, TrainResult

logger = logging.getLogger("training.engine")

CPU_BACKENDS: tuple[str, ...] = ("ddp",)
ROOT = Path(__file__).resolve().parents[2]
ACCELERATE_CONFIG_DIR = ROOT / "config" / "accelerate"
STOP_GRACE_SECONDS = 30.0  # after a SIGTERM, how long the launcher may take to stop its ranks

_ERRORS: dict[str, type[EngineError]] = {
    "ConfigError": ConfigError,
    "DataError": DataError,
    "ModelNotFoundError": ModelNotFoundError,
}


def accelerate_config(backend: str) -> Path:
    """The repository's accelerate config file for `backend` (config/accelerate/<backend>.yaml)."""
    if backend not in BACKENDS:
        raise ConfigError(f"must be one of {', '.join(BACKENDS)}, not {backend!r}", field="backend")
    return ACCELERATE_CONFIG_DIR / f"{backend}.yaml"


def cuda_available() -> bool:
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    return bool(torch.cuda.is_available())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_command(
    method: str,
    *,
    data: str | Path,
    base: str,
    out: str | Path,
    config_file: str | Path | None,
    reward_model: str | None,
    processes: int,
    backend: str,
    cuda: bool,
    events: bool = True,
) -> tuple[list[str], dict[str, str]]:
    """The child's command line and the environment it adds to ours."""
    if processes < 2:
        raise ConfigError("a launched job needs at least 2 processes", field="processes")
    config_path = accelerate_config(backend)
    out = Path(out)
    engine_args = [
        "-m", "training.engine", method,
        "--data", str(data), "--base", str(base), "--out", str(out),
    ]  # fmt: skip
    if config_file is not None:
        engine_args += ["--config", str(config_file)]
    if reward_model:
        engine_args += ["--reward-model", str(reward_model)]
    if events:
        engine_args += ["--events", "--stop-file", str(out / "STOP")]
    env = {"PYTHONUNBUFFERED": "1"}
    if cuda:
        argv = [
            sys.executable, "-m", "accelerate.commands.launch",
            "--config_file", str(config_path),
            "--num_processes", str(processes),
            "--main_process_port", str(_free_port()),
            *engine_args,
        ]  # fmt: skip
        return argv, env
    if backend not in CPU_BACKENDS:
        raise ConfigError(
            f"{backend} needs GPUs; on CPU only {', '.join(CPU_BACKENDS)} runs", field="backend"
        )
    argv = [
        sys.executable, "-m", "torch.distributed.run",
        "--standalone", "--nproc_per_node", str(processes), "--max_restarts", "0",
        *engine_args,
    ]  # fmt: skip
    env["ACCELERATE_USE_CPU"] = "1"
    return argv, env


def _libc() -> Any:
    """libc, loaded in the parent: a child between fork and exec must not import anything."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not Linux: no parent-death signal, the ranks' watchdog still applies
        return None


_LIBC = _libc()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _config_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return dict(config)


_ROOT_CAUSE = re.compile(
    r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.DOTALL | re.IGNORECASE
)


def _failure_message(
    *, returncode: int, stderr: list[str], out: Path, processes: int, backend: str
) -> str:
    """Which rank failed, how, and its last log lines (from its own log file)."""
    match = _ROOT_CAUSE.search("\n".join(stderr))
    if match:
        rank, code = int(match.group(1)), int(match.group(2))
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        ranks = [rank]
        head = f"rank {rank} of {processes} ({backend}) {how}; the launch was stopped."
    else:
        ranks = list(range(processes))
        head = f"the {processes}-process launch ({backend}) ended with exit code {returncode}."
    parts = [head]
    for rank in ranks:
        tail = log_tail(out / "logs" / f"rank-{rank}.log")
        if tail:
            parts.append(f"last lines of rank {rank}:")
            parts.extend(f"  {line}" for line in tail)
    if len(parts) == 1:
        parts.append("last lines of the launcher:")
        parts.extend(f"  {line}" for line in stderr[-15:])
    return "\n".join(parts)


def _reader(stream: Any, name: str, sink: queue.Queue[tuple[str, str | None]]) -> None:
    for line in iter(stream.readline, ""):
        sink.put((name, line.rstrip("\n")))
    sink.put((name, None))


def train_launched(
    method: str,
    *,
    data: str | Path,
    base: str,
    out: str | Path,
    config: Any = None,
    reward_model: str | None = None,
    hooks: Hooks | None = None,
    processes: int,
    backend: str = "ddp",
    cuda: bool | None = None,
) -> TrainResult:
    """Run `train(method, ...)` as `processes` ranks under a launcher; the same result as `train`.

    `hooks` are called in this thread: progress, metrics and log lines as rank 0 reports them,
    and `should_stop` polled while the ranks run (a True stops all of them at the next step,
    after a checkpoint). A rank that dies raises EngineError with its last log lines; a bad
    input raises the engine's own typed error, as `train` would.
    """
    hooks = hooks or Hooks()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "launch-config.json"
    config_file.write_text(json.dumps(_config_dict(config), indent=2) + "\n", encoding="utf-8")
    stop_file = out / "STOP"
    stop_file.unlink(missing_ok=True)  # a stop from an earlier attempt does not stop this one
    argv, extra_env = launch_command(
        method,
        data=data,
        base=base,
        out=out,
        config_file=config_file,
        reward_model=reward_model,
        processes=processes,
        backend=backend,
        cuda=cuda_available() if cuda is None else cuda,
    )
    if hooks.on_log is not None:
        hooks.on_log(f"launching {processes} processes ({backend}): {' '.join(argv[1:4])} ...")
    logger.info("launching: %s", " ".join(argv))
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **extra_env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    readers = [
        threading.Thread(target=_reader, args=(process.stdout, "stdout", lines), daemon=True),
        threading.Thread(target=_reader, args=(process.stderr, "stderr", lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    stderr: deque[str] = deque(maxlen=300)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    open_streams = 2
    stop_sent = False
    try:
        while open_streams:
            try:
                name, line = lines.get(timeout=0.2)
            except queue.Empty:
                name, line = "", ""
            if line is None:
                open_streams -= 1
            elif name == "stdout":
                event = event_parse(line)
                if event is None:
                    stderr.append(line)
                elif event["event"] == "progress" and hooks.on_progress is not None:
                    hooks.on_progress(
                        Progress(
                            step=int(event["step"]),
                            total_steps=int(event["total_steps"]),
                            metrics={k: float(v) for k, v in event["metrics"].items()},
                            epoch=event.get("epoch"),
                        )
                    )
                elif event["event"] == "log" and hooks.on_log is not None:
                    hooks.on_log(str(event["message"]))
                elif event["event"] == "result":
                    result = event
                elif event["event"] == "error" and error is None:
                    error = event
            elif name == "stderr":
                stderr.append(line)
                logger.debug("launched: %s", line)
            if not stop_sent and hooks.should_stop is not None and hooks.should_stop():
                stop_file.touch()
                stop_sent = True
        returncode = process.wait()
    finally:
        _stop(process)
    if error is not None:
        kind = _ERRORS.get(str(error.get("type")), EngineError)
        message = str(error.get("message"))
        if kind is ConfigError:
            field = str(error.get("field") or "config")
            raise ConfigError(_without_field(message, field), field=field)
        raise kind(message)
    if returncode != 0 or result is None:
        raise EngineError(
            _failure_message(
                returncode=returncode,
                stderr=list(stderr),
                out=out,
                processes=processes,
                backend=backend,
            )
        )
    return TrainResult(
        model_dir=Path(result["model_dir"]),
        metrics={k: float(v) for k, v in result["metrics"].items()},
        steps=int(result["steps"]),
        cancelled=bool(result["cancelled"]),
        card=dict(result.get("card") or {}),
    )


def _without_field(message: str, field: Any) -> str:
    """ConfigError's str() starts with 'field: '; the re-raised error adds it again."""
    prefix = f"{field}: "
    return message[len(prefix) :] if field and message.startswith(prefix) else message


def _stop(process: subprocess.Popen[str]) -> None:
    """Make sure the launcher and its ranks are gone (SIGTERM, then SIGKILL after a grace)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
