#!/usr/bin/env bash
# GPU readiness check for the trainer: one DPO round (TRL + LoRA) on a small Llama built on the
# spot, on CUDA, in bf16 with gradient checkpointing (the trainer's automatic choice there).
#
# Prints, as JSON lines and a summary:
#   * peak GPU memory of the codealign route (reference = the base with the adapter disabled,
#     no second model) against the same round with a second full model copy as `ref_model`;
#   * training tokens per second of the codealign route.
#
# Needs on the GPU machine: python with torch (CUDA), transformers, peft, accelerate. No
# internet, no vLLM. TRL (and datasets, tokenizers if missing) are installed offline from the
# wheels in .whl/ (on a machine with internet: pip download "trl==1.16.*" datasets -d .whl).
#
# Usage (from the repository root):  bash scripts/gpu_check.sh
# Knobs (env): PYTHON (default python3), GPU_CHECK_HIDDEN (2048), GPU_CHECK_LAYERS (12),
#   GPU_CHECK_PAIRS (64), GPU_CHECK_STEPS (20), GPU_CHECK_OUT (a temp dir),
#   GPU_CHECK_ALLOW_CPU=1 runs the same steps on the CPU (a dry run of the script only).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
OUT="${GPU_CHECK_OUT:-$(mktemp -d -t codealign-gpu-check.XXXXXX)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"

echo "== codealign gpu check: output in $OUT"
for name in datasets tokenizers trl; do
    if ! "$PYTHON" -c "import $name" 2>/dev/null; then
        if ! ls .whl/*.whl >/dev/null 2>&1; then
            echo "$name is not installed and .whl/ holds no wheels to install it from" >&2
            exit 1
        fi
        echo "== installing $name from .whl/ (offline)"
        "$PYTHON" -m pip install -q --no-index --find-links .whl "$name"
    fi
done
"$PYTHON" - <<'EOF'
import importlib, sys
for name in ("torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "trl"):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        sys.exit(f"missing {name}: {exc}")
    print(f"{name:13s} {getattr(module, '__version__', '?')}")
import torch
print(f"cuda          {torch.cuda.is_available()} {torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}")
EOF

cat > "$OUT/check.py" <<'EOF'
"""One step of the GPU check: `build`, `adapter` (codealign route) or `copy` (second model)."""
import json, os, sys, time
from pathlib import Path

import torch

out = Path(sys.argv[2])
step = sys.argv[1]
allow_cpu = os.environ.get("GPU_CHECK_ALLOW_CPU") == "1"
if not torch.cuda.is_available() and not allow_cpu:
    sys.exit("no CUDA device (set GPU_CHECK_ALLOW_CPU=1 for a CPU dry run)")
cuda = torch.cuda.is_available()
hidden = int(os.environ.get("GPU_CHECK_HIDDEN", "2048"))
layers = int(os.environ.get("GPU_CHECK_LAYERS", "12"))
n_pairs = int(os.environ.get("GPU_CHECK_PAIRS", "64"))
steps = int(os.environ.get("GPU_CHECK_STEPS", "20"))
model_dir, pairs_path = out / "model", out / "pairs.jsonl"

def program(i, op, lines):
    body = "".join(f"    acc = acc {op} (x * {j} + {i}) % 97\n" for j in range(lines))
    return f"def f{i}(x):\n    acc = 0\n{body}    return acc\n"

if step == "build":
    from codealign.demo.tinymodel import build_tiny_llama
    texts = [program(i, op, 12) for i in range(64) for op in "+-*"]
    build_tiny_llama(model_dir, texts, vocab_size=4096, hidden_size=hidden, layers=layers,
                     max_positions=2048, seed=0)
    with open(pairs_path, "w") as handle:
        for i in range(n_pairs):
            handle.write(json.dumps({"prompt": f"Write f{i}(x), a checksum.\n",
                                     "chosen": program(i, "+", 24),
                                     "rejected": program(i, "*", 24)}) + "\n")
    params = sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM
                 .from_pretrained(model_dir).parameters())
    print(json.dumps({"step": "build", "params": params, "hidden": hidden, "layers": layers,
                      "pairs": n_pairs}))
    sys.exit(0)

from codealign.trainer.dpo import TrainConfig, build_trainer, dpo_args

config = TrainConfig(beta=0.1, loss_type=["sigmoid", "sft"], learning_rate=1e-4, batch_size=4,
                     grad_accumulation=1, max_length=1024, max_steps=steps, lora_r=16,
                     lora_alpha=32, lora_target_modules="all-linear",
                     max_chosen_logp_drop=None, max_drift=None)
if cuda:
    torch.cuda.reset_peak_memory_stats()
if step == "adapter":
    # The codealign route: reference = the base with the adapter disabled, no second model.
    trainer, guard = build_trainer(model_dir, pairs_path, out / "adapter-run", config, chat=False)
    second = False
else:
    # The route codealign avoids: a second full model copy as ref_model.
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOTrainer
    dtype = torch.bfloat16 if cuda else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    ref = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    rows = [json.loads(line) for line in open(pairs_path)]
    rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=policy, ref_model=ref,
                         args=dpo_args(config, out / "copy-run", cuda=cuda, precompute=False),
                         train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora)
    second = True
started = time.perf_counter()
result = trainer.train()
if cuda:
    torch.cuda.synchronize()
seconds = time.perf_counter() - started
tokens = trainer._total_train_tokens        # TRL's own count of the tokens it trained on
peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
print(json.dumps({"step": step, "second_model_copy": second, "ref_model_is_none": trainer.ref_model is None,
                  "bf16": trainer.args.bf16, "gradient_checkpointing": trainer.args.gradient_checkpointing,
                  "steps": result.global_step, "train_tokens": tokens, "seconds": round(seconds, 2),
                  "tokens_per_s": round(tokens / seconds, 1), "peak_gpu_mib": peak and round(peak, 1),
                  "final_loss": round(result.training_loss, 4)}))
EOF

run() { "$PYTHON" "$OUT/check.py" "$1" "$OUT" 2> "$OUT/$1.log" | tail -n 1 | tee "$OUT/$1.json"; }
echo "== building a Llama (hidden ${GPU_CHECK_HIDDEN:-2048}, ${GPU_CHECK_LAYERS:-12} layers) and pairs"
run build || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
echo "== DPO round, reference = base with the adapter disabled (codealign)"
run adapter || { tail -n 30 "$OUT/adapter.log" >&2; exit 1; }
echo "== DPO round, reference = a second model copy (for comparison)"
run copy || { tail -n 30 "$OUT/copy.log" >&2; exit 1; }

"$PYTHON" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
a = json.loads((out / "adapter.json").read_text())
c = json.loads((out / "copy.json").read_text())
print("== summary")
print(f"peak GPU memory, adapter-disabled reference: {a['peak_gpu_mib']} MiB")
print(f"peak GPU memory, second model copy:          {c['peak_gpu_mib']} MiB")
if a["peak_gpu_mib"] and c["peak_gpu_mib"]:
    print(f"saved by not copying the model:              {c['peak_gpu_mib'] - a['peak_gpu_mib']:.1f} MiB "
          f"({c['peak_gpu_mib'] / a['peak_gpu_mib']:.2f}x)")
print(f"training tokens/s (codealign route):         {a['tokens_per_s']}  "
      f"(bf16={a['bf16']}, gradient checkpointing={a['gradient_checkpointing']})")
print(json.dumps({"gpu_check": {"adapter": a, "copy": c}}))
EOF
