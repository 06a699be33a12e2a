"""What a training rank needs to know about the others: who it is, how they agree, how it talks.

Under `torchrun` or `accelerate launch` every rank runs the same engine code. Only rank 0 reports
(progress, metrics, log lines, the result) and writes files (checkpoints are the Trainer's, the
model and the card are ours); the other ranks train their share of each batch and wait for it.

- `rank()`, `world_size()`, `is_main()` read the launcher's environment (`RANK`, `WORLD_SIZE`),
  so they cost nothing and work before torch.distributed is initialised.
- `any_rank(flag)` is one all-reduce: a stop asked on rank 0 stops every rank at the same step.
- `rank_hooks(hooks)` keeps only rank 0's reporting hooks.
- The line protocol: a launched engine started with `--events` prints one JSON object a line on
  stdout (rank 0 only), each line starting with `EVENT_PREFIX`: `progress`, `log`, `result` and
  `error` events (see `event_line`). The launcher (`training.engine.launch`) reads them and calls
  the caller's hooks. Stopping goes the other way through a stop file: rank 0 checks whether it
  exists after every optimizer step.
- `orphan_watchdog()` ends a rank whose launcher died (kill -9), so no rank outlives its job.

Nothing here imports torch at module import.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from training.engine.results import Hooks, Progress

logger = logging.getLogger("training.engine")

EVENT_PREFIX = "@@feedback-engine "


def rank() -> int:
    """This process's global rank (0 when not launched)."""
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    """How many processes train together (1 when not launched)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main() -> bool:
    return rank() == 0


def launched() -> bool:
    """True inside `torchrun` / `accelerate launch` with more than one process."""
    return world_size() > 1


def _process_group() -> Any:
    """torch.distributed when a process group is up, else None."""
    if not launched():
        return None
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist
    return None


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is True on any rank (one all-reduce; alone: `flag`)."""
    dist = _process_group()
    if dist is None:
        return flag
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier() -> None:
    """Wait for every rank (rank 0 writing the model and the card, say); alone: nothing."""
    dist = _process_group()
    if dist is not None:
        dist.barrier()


def rank_hooks(hooks: Hooks) -> Hooks:
    """The hooks as this rank may use them: all of them on rank 0, none on the others.

    A stop asked through rank 0's `should_stop` reaches the others through `any_rank`.
    """
    if is_main():
        return hooks
    return Hooks()


# -- the line protocol ------------------------------------------------------------------------


def event_line(event: str, **payload: Any) -> str:
    """One protocol line: `EVENT_PREFIX` + {"event": event, ...payload} as JSON, no newline."""
    return EVENT_PREFIX + json.dumps({"event": event, **payload}, default=str)


def event_parse(line: str) -> dict[str, Any] | None:
    """The event on a protocol line, or None for any other output."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        event = json.loads(line[len(EVENT_PREFIX) :])
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


class EventWriter:
    """Rank 0's hooks under a launcher: events on stdout, a stop when the stop file appears."""

    def __init__(self, stream: Any, stop_file: Path | None) -> None:
        self.stream = stream
        self.stop_file = stop_file
        self._lock = threading.Lock()

    def emit(self, event: str, **payload: Any) -> None:
        with self._lock:
            self.stream.write(event_line(event, **payload) + "\n")
            self.stream.flush()

    def on_progress(self, progress: Progress) -> None:
        self.emit(
            "progress",
            step=progress.step,
            total_steps=progress.total_steps,
            metrics=progress.metrics,
            epoch=progress.epoch,
        )

    def on_log(self, message: str) -> None:
        self.emit("log", message=message)

    def should_stop(self) -> bool:
        return self.stop_file is not None and self.stop_file.exists()

    def hooks(self, *, events: bool = True) -> Hooks:
        """All three hooks; with `events` off, only the stop file (a run by hand)."""
        if not events:
            return Hooks(should_stop=self.should_stop)
        return Hooks(on_progress=self.on_progress, should_stop=self.should_stop, on_log=self.on_log)


# -- no orphan ranks --------------------------------------------------------------------------


def orphan_watchdog(*, every: float = 0.5) -> None:
    """End this process soon after its parent (the launcher) dies.

    torchrun starts each rank in a session of its own, so killing the worker's process group
    does not reach the ranks, and a rank blocked in a collective would wait for its peers for
    the backend's timeout (30 minutes). A daemon thread notices the parent change and exits.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                logger.error("rank %s: the launcher (pid %s) is gone; exiting", rank(), parent)
                logging.shutdown()
                os._exit(3)

    threading.Thread(target=watch, name="orphan-watchdog", daemon=True).start()


def rank_log_file(out: str | Path) -> Path:
    """Where this rank's own log goes (`OUT/logs/rank-N.log`): its last lines explain a death."""
    return Path(out) / "logs" / f"rank-{rank()}.log"


def log_tail(path: Path, lines: int = 15) -> list[str]:
    """The last `lines` lines of a text file (empty when it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
