"""DPO throughput on a CUDA GPU: a ~0.5B-parameter Llama built from a config, bf16, via the engine.

No hub is needed: the model is initialised from a config (hidden 1024, 24 layers, MLP 4096, vocab
32000: about 0.47B parameters) and saved beside the tiny tokenizer; pairs are synthetic text of
`--length` tokens. Prints tokens/s and model FLOPs utilisation (MFU) against the GPU's peak dense
bf16 throughput. On a machine without CUDA it says so and exits (status 0: nothing to measure).

FLOPs per trained token: 6N for the policy's forward and backward, plus 2N for the frozen
reference model's forward (N = parameters without embeddings' lookup, lm_head included), plus the
attention term 12 * layers * hidden * seq (forward + backward) and 4 * layers * hidden * seq for the
reference. The reference log-probs are not precomputed (TRL's default).

    .venv/bin/python bench/gpu_dpo.py [--steps 20] [--batch 8] [--length 512] [--peak-tflops X]
        [--processes N --backend ddp|fsdp|deepspeed-zero2|deepspeed-zero3]

With `--processes N` the job runs as N ranks under `accelerate launch` with
config/accelerate/<backend>.yaml (the gpu worker's path); `--batch` is then per GPU, tokens/s
counts all GPUs and MFU is against N times the peak.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Peak dense bf16 tensor TFLOP/s by device name fragment (vendor datasheets, no sparsity).
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 125.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
}


def peak_for(name: str) -> float | None:
    for fragment, tflops in PEAK_TFLOPS.items():
        if fragment in name:
            return tflops
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=512, help="tokens per prompt+response")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--processes", type=int, default=1, help="GPUs (ranks) to train on")
    parser.add_argument("--backend", default="ddp", help="accelerate config (config/accelerate/)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(
            "bench/gpu_dpo.py: no CUDA GPU on this machine; nothing measured (run it on a GPU host)"
        )
        return 0

    from transformers import LlamaConfig, LlamaForCausalLM

    from training.engine import Hooks, build_tiny_model, train
    from training.engine.runtime import libraries_quiet

    libraries_quiet()
    gpu = torch.cuda.get_device_name(0)
    peak = args.peak_tflops or peak_for(gpu)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-dpo-") as tmp:
        work = Path(tmp)
        tiny = build_tiny_model(work / "tiny")
        config = LlamaConfig(
            vocab_size=32000,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            num_key_value_heads=16,
            max_position_embeddings=4096,
            tie_word_embeddings=False,
            pad_token_id=3,
            eos_token_id=2,
        )
        torch.manual_seed(0)
        model: Any = LlamaForCausalLM(config)
        n_params = sum(p.numel() for p in model.parameters())
        n_matmul = n_params - model.model.embed_tokens.weight.numel()
        base = work / "base"
        model.to(torch.bfloat16).save_pretrained(base)
        del model
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(tiny).save_pretrained(base)

        words = (
            (Path(__file__).resolve().parent.parent / "training/engine/tiny_corpus.txt")
            .read_text()
            .split()
        )
        rng = random.Random(0)

        def text(n_words: int) -> str:
            return " " + " ".join(rng.choice(words) for _ in range(n_words))

        # about 1.3 tokens per word with the tiny tokenizer; half prompt, half response
        half = max(8, int(args.length / 2 / 1.3))
        n_rows = args.steps * args.batch * args.processes
        data = work / "pairs.jsonl"
        data.write_text(
            "".join(
                json.dumps({"prompt": text(half), "chosen": text(half), "rejected": text(half)})
                + "\n"
                for _ in range(n_rows)
            )
        )
        step_times: list[float] = []
        last = [time.perf_counter()]

        def on_progress(progress: object) -> None:
            now = time.perf_counter()
            step_times.append(now - last[0])
            last[0] = now

        result = train(
            "dpo",
            data=data,
            base=str(base),
            out=work / "run",
            config={
                "max_steps": args.steps,
                "per_device_train_batch_size": args.batch,
                "max_length": args.length,
                "learning_rate": 1e-6,
                "eval_fraction": 0.0,
                "save_steps": 100_000,
                "logging_steps": 1,
                "processes": args.processes,
                "backend": args.backend if args.processes > 1 else "ddp",
            },
            hooks=Hooks(on_progress=on_progress),
        )
        metrics = result.metrics
        tokens = metrics.get("num_tokens", 0.0)
        runtime = metrics.get("train_runtime", 0.0)
        # steady state: skip the first 3 steps (allocator warm-up, kernel selection)
        steady = step_times[3 : args.steps]
        tokens_per_step = tokens / max(1, result.steps)
        tps_total = tokens / runtime if runtime else 0.0
        tps_steady = tokens_per_step / (sum(steady) / len(steady)) if steady else tps_total
        layers, hidden = config.num_hidden_layers, config.hidden_size
        seq = args.length
        flops_per_token = 8 * n_matmul + 16 * layers * hidden * seq
        achieved = tps_steady * flops_per_token / 1e12
        how = args.backend if args.processes > 1 else "one process"
        print(
            f"GPU: {args.processes} x {gpu} ({how}); "
            f"model {n_params / 1e6:.0f}M parameters, bf16 autocast, {result.steps} steps"
        )
        peak = peak * args.processes if peak else peak
        print(f"batch {args.batch} pairs x {seq} tokens; {tokens:.0f} tokens trained")
        print(f"tokens/s: {tps_steady:,.0f} steady state ({tps_total:,.0f} over the whole run)")
        if peak:
            print(
                f"model FLOPs: {achieved:.1f} TFLOP/s = MFU {100 * achieved / peak:.1f}% "
                f"of {peak:.0f} TFLOP/s peak"
            )
        else:
            print(
                f"model FLOPs: {achieved:.1f} TFLOP/s (unknown peak for {gpu}; pass --peak-tflops)"
            )
        if args.processes == 1:  # under a launcher the ranks hold the memory, not this process
            print(f"peak memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
