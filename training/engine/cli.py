"""The engine's command line, so an ML engineer can rerun any job from a terminal.

    python -m training.engine METHOD --data FILE --base MODEL --out DIR
        [--config YAML] [--reward-model DIR] [--events] [--stop-file PATH]
    python -m training.engine build-tiny-model DIR
    python -m training.engine import-gguf FILE --out DIR
    python -m training.engine generate --model DIR --prompts FILE [--config YAML] [--out FILE]

Results go to stdout as JSON; progress goes to stderr; a bad input exits with status 2 and a
one-line reason.

Under `torchrun` / `accelerate launch` every rank runs this; rank 0 alone prints the result (or,
with `--events`, protocol lines for a launcher: see `training.engine.distributed`), each rank logs
to OUT/logs/rank-N.log with its rank in every line, and a rank whose launcher dies exits.
`--stop-file PATH` stops every rank cleanly, after a checkpoint, once PATH exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from training.engine import distributed
from training.engine.catalog import METHODS
from training.engine.config import GenerateConfig, build_config
from training.engine.data import data_read, prompt_messages
from training.engine.errors import ConfigError, EngineError
from training.engine.generate import generate
from training.engine.gguf_import import gguf_import
from training.engine.run import train
from training.engine.tiny import build_tiny_model


def _yaml_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", field="config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", field="config") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of field: value", field="config")
    return loaded


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for method in METHODS:
        sub = commands.add_parser(method, help=f"train {METHODS[method].label}")
        sub.add_argument("--data", required=True, help="JSONL file as exported by the API")
        sub.add_argument("--base", required=True, help="base model: hub id or local directory")
        sub.add_argument(
            "--out", required=True, help="output directory (resumes if it has checkpoints)"
        )
        sub.add_argument("--config", help="YAML file of config fields (see the README)")
        sub.add_argument(
            "--reward-model",
            help="reward model directory (needed by "
            + ", ".join(m.name for m in METHODS.values() if m.needs_reward_model)
            + ")",
        )
        sub.add_argument(
            "--events",
            action="store_true",
            help="print progress, logs and the result as protocol lines (for a launcher)",
        )
        sub.add_argument(
            "--stop-file", help="stop cleanly (after a checkpoint) once this file exists"
        )
    tiny = commands.add_parser("build-tiny-model", help="build the tiny offline test model")
    tiny.add_argument("out", help="directory to write it to")
    gguf = commands.add_parser(
        "import-gguf", help="convert a GGUF file into a Hugging Face model directory"
    )
    gguf.add_argument("file", help="the .gguf file")
    gguf.add_argument("--out", required=True, help="directory to create (must not exist)")
    gen = commands.add_parser("generate", help="sample completions for prompts")
    gen.add_argument("--model", required=True, help="model directory or hub id")
    gen.add_argument("--prompts", required=True, help='JSONL file with a "prompt" column')
    gen.add_argument("--config", help="YAML file of GenerateConfig fields")
    gen.add_argument("--out", help="JSONL file to write (default: stdout)")
    return parser


def _emit(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    launched = distributed.launched()
    prefix = f"[rank {distributed.rank()}] " if launched else ""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {prefix}%(message)s", stream=sys.stderr
    )
    events = getattr(args, "events", False)
    writer = None
    if args.command in METHODS:
        if launched:
            _rank_setup(args.out)
        if distributed.is_main() and (events or args.stop_file):
            stop_file = Path(args.stop_file) if args.stop_file else None
            writer = distributed.EventWriter(sys.stdout, stop_file)
    try:
        if args.command == "build-tiny-model":
            _emit({"model_dir": str(build_tiny_model(args.out))})
        elif args.command == "import-gguf":

            def progress(line: str) -> None:
                sys.stderr.write(line + "\n")

            _emit(dataclasses.asdict(gguf_import(args.file, args.out, progress=progress)))
        elif args.command == "generate":
            _generate(args)
        else:
            _train(args, writer, events=events)
    except EngineError as exc:
        if events:  # any rank: a bad input fails every rank alike, the first one to say it wins
            line = distributed.event_line(
                "error",
                type=type(exc).__name__,
                message=exc.message,
                field=getattr(exc, "field", None),
            )
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        sys.stderr.write(f"{prefix}error: {exc}\n")
        return 2
    except BaseException:
        if launched:  # into this rank's log file, where the launcher looks after a death
            logging.getLogger("training.engine").exception("rank %s crashed", distributed.rank())
        raise
    return 0


def _rank_setup(out: str) -> None:
    """A launched rank: its own log file, and an exit when its launcher dies."""
    path = distributed.rank_log_file(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(f"%(asctime)s [rank {distributed.rank()}] %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("training.engine").info(
        "rank %s of %s started (pid %s)", distributed.rank(), distributed.world_size(), os.getpid()
    )
    distributed.orphan_watchdog()


def _train(
    args: argparse.Namespace, writer: distributed.EventWriter | None, *, events: bool
) -> None:
    result = train(
        args.command,
        data=args.data,
        base=args.base,
        out=args.out,
        config=_yaml_config(args.config),
        reward_model=args.reward_model,
        hooks=writer.hooks(events=events) if writer is not None else None,
    )
    if not distributed.is_main():
        return  # rank 0 prints the one result
    summary = {
        "model_dir": str(result.model_dir),
        "steps": result.steps,
        "cancelled": result.cancelled,
        "metrics": result.metrics,
    }
    if writer is not None and events:
        writer.emit("result", **summary, card=result.card)
    else:
        _emit(summary)


def _generate(args: argparse.Namespace) -> None:
    config = build_config(GenerateConfig, _yaml_config(args.config))
    prompts = [prompt_messages(row["prompt"]) for row in data_read(args.prompts, "grpo").rows]
    completions = generate(args.model, prompts, config)
    lines = "".join(
        json.dumps({"prompt": p, "completions": c}) + "\n"
        for p, c in zip(prompts, completions, strict=True)
    )
    if args.out:
        Path(args.out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
