"""TRL reads every export format unchanged: ``datasets`` loads the files, TRL's own helpers
agree on their shape, and RewardTrainer and DPOTrainer train on them (tiny local model)."""

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from feedback.export import ExportStream, export_params_parse
from feedback.models import Project
from tests.feedback.export.conftest import JudgeFn, MakeItem

pytestmark = pytest.mark.django_db

EXPECTED_COLUMNS = {
    "trl": {"prompt", "chosen", "rejected"},
    "trl-conversational": {"prompt", "chosen", "rejected"},
    "trl-implicit": {"chosen", "rejected"},
    "kto": {"prompt", "completion", "label"},
    "hh-rlhf": {"chosen", "rejected"},
    "rankings": {"judgement_id", "item", "responses", "ranking", "annotator", "agreement"},
}


@pytest.fixture
def judged(project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn) -> None:
    for n in range(12):
        messages = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"What is {n} plus {n}?"},
        ]
        item, (a, b, c) = make_item(
            f"sum-{n}", messages, [f"It is {2 * n}.", f"Maybe {n}.", "No idea."]
        )
        judge(item, annotators[n % 3], [[a], [b], [c]])
        if n % 4 == 0:
            judge(item, annotators[(n + 1) % 3], [[a, b], [c]])


def export_file(project: Project, tmp_path: Path, **query: str) -> Path:
    params = export_params_parse(query)
    path = tmp_path / f"{params.format}-{len(query)}.jsonl"
    with path.open("wb") as out:
        for chunk in ExportStream(project=project, params=params):
            out.write(chunk)
    return path


def load(path: Path) -> Any:
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train")


@pytest.mark.parametrize("fmt", sorted(EXPECTED_COLUMNS))
def test_datasets_loads_every_format_with_its_columns(
    project: Project, judged: None, tmp_path: Path, fmt: str
) -> None:
    from trl.data_utils import is_conversational

    dataset = load(export_file(project, tmp_path, format=fmt))

    assert len(dataset) > 0
    assert EXPECTED_COLUMNS[fmt] <= set(dataset.column_names)
    if fmt != "rankings":
        conversational = fmt in ("trl-conversational", "trl-implicit")
        assert is_conversational(dataset[0]) is conversational


def test_trl_extracts_the_same_prompt_from_the_implicit_format(
    project: Project, judged: None, tmp_path: Path
) -> None:
    from trl.data_utils import maybe_extract_prompt

    implicit = load(export_file(project, tmp_path, format="trl-implicit"))
    explicit = load(export_file(project, tmp_path, format="trl-conversational"))

    extracted = [maybe_extract_prompt(row) for row in implicit]
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in extracted] == [
        (r["prompt"], r["chosen"], r["rejected"]) for r in explicit
    ]
    # An explicit prompt is left alone.
    assert maybe_extract_prompt(explicit[0]) == explicit[0]


def test_trl_unpairing_the_pairs_gives_the_kto_export(
    project: Project, judged: None, tmp_path: Path
) -> None:
    from trl.data_utils import unpair_preference_dataset

    unpaired = unpair_preference_dataset(load(export_file(project, tmp_path, format="trl")))
    kto = load(export_file(project, tmp_path, format="kto"))

    def bag(dataset: Any) -> Counter[tuple[str, str, bool]]:
        return Counter((r["prompt"], r["completion"], r["label"]) for r in dataset)

    assert bag(unpaired) == bag(kto)


def test_string_prompt_and_completion_join_into_the_rendered_turn(
    project: Project, judged: None, tmp_path: Path
) -> None:
    row = load(export_file(project, tmp_path, format="trl"))[0]
    assert (row["prompt"] + row["chosen"]).endswith("\n\nAssistant: It is 0.")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from training.engine.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-model")))


def cpu_args() -> dict[str, Any]:
    return {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "bf16": False,
        "activation_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "use_cpu": True,
    }


@pytest.mark.slow
def test_reward_trainer_trains_on_the_exported_pairs_with_margin(
    project: Project, judged: None, tmp_path: Path, tiny_model: str
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    dataset = load(export_file(project, tmp_path, format="trl", margin="rank-distance"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    trainer = RewardTrainer(
        model=model,
        args=RewardConfig(output_dir=str(tmp_path / "rm"), max_length=256, **cpu_args()),
        train_dataset=dataset,
        processing_class=tokenizer,
    )

    result = trainer.train()

    assert result.global_step == 2
    processed: Any = trainer.train_dataset
    assert len(processed) == len(dataset)  # nothing dropped for length
    assert result.training_loss > 0


@pytest.mark.slow
def test_dpo_trainer_trains_on_the_exported_conversations(
    project: Project, judged: None, tmp_path: Path, tiny_model: str
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    dataset = load(export_file(project, tmp_path, format="trl-conversational"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(output_dir=str(tmp_path / "dpo"), max_length=256, **cpu_args()),
        train_dataset=dataset,
        processing_class=tokenizer,
    )

    result = trainer.train()

    assert result.global_step == 2
    assert result.training_loss > 0
