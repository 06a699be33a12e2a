"""The engine's command line, so an ML engineer can rerun any job from a terminal.

    python -m training.engine METHOD --data FILE --base MODEL --out DIR
        [--config YAML] [--reward-model DIR]
    python -m training.engine build-tiny-model DIR
    python -m training.engine generate --model DIR --prompts FILE [--config YAML] [--out FILE]

Results go to stdout as JSON; progress goes to stderr; a bad input exits with status 2 and a
one-line reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from training.engine.config import METHODS, GenerateConfig, build_config
from training.engine.errors import ConfigError, EngineError


def _yaml_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

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
    tiny = commands.add_parser("build-tiny-model", help="build the tiny offline test model")
    tiny.add_argument("out", help="directory to write it to")
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        if args.command == "build-tiny-model":
            from training.engine.tiny import build_tiny_model

            _emit({"model_dir": str(build_tiny_model(args.out))})
        elif args.command == "generate":
            _generate(args)
        else:
            from training.engine.run import train

            result = train(
                args.command,
                data=args.data,
                base=args.base,
                out=args.out,
                config=_yaml_config(args.config),
                reward_model=args.reward_model,
            )
            _emit(
                {
                    "model_dir": str(result.model_dir),
                    "steps": result.steps,
                    "cancelled": result.cancelled,
                    "metrics": result.metrics,
                }
            )
    except EngineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


def _generate(args: argparse.Namespace) -> None:
    from training.engine.data import data_read, prompt_messages
    from training.engine.generate import generate

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
