"""Checking a round's LoRA adapter against the model it is about to be applied to.

vLLM and PEFT fail deep inside their loaders (or, worse, not at all) when an adapter was
trained on another base. Before a backend uses an adapter we read its ``adapter_config.json``
and the *shapes* in its weights file (headers only, no tensors loaded) and compare them with
the loaded model, so that the user gets one sentence saying what does not match:

* the base it was trained on (``base_model_name_or_path``): the same string, the same
  directory, or a hub id that the local path ends with;
* its rank against the engine's ``max_lora_rank``;
* every LoRA matrix against the base weight it adapts (module present, in/out dims equal).

`model_context_length` reads a local model's own context length the same way (its JSON
files only), so backends default to it instead of a fixed number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codealign.errors import GeneratorError

__all__ = ["AdapterInfo", "check_adapter", "check_model_path", "model_context_length"]

_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
"""config.json keys that hold a model's context length, by architecture family."""


@dataclass(frozen=True)
class AdapterInfo:
    """What we read from an adapter directory."""

    path: Path
    base: str
    rank: int
    target_modules: tuple[str, ...]


def check_model_path(model: str) -> None:
    """Raise GeneratorError if `model` looks like a local path (not a hub id) and is missing.

    >>> check_model_path("Qwen/Qwen2.5-Coder-0.5B")  # a hub id: left to the loader
    >>> check_model_path("/no/such/model")
    Traceback (most recent call last):
    ...
    codealign.errors.GeneratorError: model path does not exist: /no/such/model
    """
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise GeneratorError(f"model directory has no config.json: {model}")
        return
    looks_local = model.startswith(("/", ".", "~")) or model.count("/") > 1
    if looks_local:
        raise GeneratorError(f"model path does not exist: {model}")


def model_context_length(model: str) -> int | None:
    """The context length of a local model directory, in tokens: the smaller of its
    config.json's (``max_position_embeddings`` and kin, also under ``text_config``) and its
    tokenizer's ``model_max_length``. None for a hub id or when neither file says (the
    tokenizer's "no limit" sentinel, 10**30, says nothing).

    >>> model_context_length("Qwen/Qwen2.5-Coder-0.5B") is None  # a hub id
    True
    """
    def read(name: str) -> dict:
        try:
            data = json.loads((Path(model).expanduser() / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def lengths(data: dict, keys: tuple[str, ...]) -> list[int]:
        return [v for k in keys if isinstance(v := data.get(k), int)
                and not isinstance(v, bool) and 0 < v < 10**9]

    config = read("config.json")
    text_config = config.get("text_config")
    found = lengths(config, _CONTEXT_KEYS) or lengths(
        text_config if isinstance(text_config, dict) else {}, _CONTEXT_KEYS)
    found += lengths(read("tokenizer_config.json"), ("model_max_length",))
    return min(found) if found else None


def _same_base(a: str, b: str) -> bool:
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    # A hub id against a local snapshot of it (".../org/name" or "models--org--name").
    hub, local = (a, str(pb)) if not pa.exists() else (b, str(pa))
    return hub.count("/") == 1 and (local.rstrip("/").endswith("/" + hub)
                                    or f"models--{hub.replace('/', '--')}" in local)


def _weight_shapes(directory: Path, prefix: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape for every ``{prefix}*.safetensors`` file, from headers only."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(directory.glob(f"{prefix}*.safetensors")):
        with safe_open(file, framework="pt") as f:
            for key in f.keys():
                shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


def check_adapter(adapter_dir: str | Path, model: str, *, max_rank: int | None = None
                  ) -> AdapterInfo:
    """Read `adapter_dir` and check it fits `model`; raise GeneratorError saying what doesn't."""
    path = Path(adapter_dir).expanduser()
    config_file = path / "adapter_config.json"
    if not path.is_dir():
        raise GeneratorError(f"adapter directory does not exist: {adapter_dir}")
    if not config_file.is_file():
        raise GeneratorError(f"not a LoRA adapter (no adapter_config.json): {adapter_dir}")
    try:
        config = json.loads(config_file.read_text())
        base = str(config.get("base_model_name_or_path") or "")
        rank = int(config["r"])
        targets = config.get("target_modules") or []
    except (ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"{config_file}: unreadable LoRA config ({exc})") from exc
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if base and not _same_base(base, model):
        raise GeneratorError(
            f"adapter {adapter_dir} was trained on base model {base!r}, but the loaded model is "
            f"{model!r} (if it is a copy of the same model, fix base_model_name_or_path in "
            f"{config_file})")
    if max_rank is not None and rank > max_rank:
        raise GeneratorError(f"adapter {adapter_dir} has LoRA rank {rank} > max_lora_rank "
                             f"{max_rank} of the engine; raise max_lora_rank")
    model_dir = Path(model).expanduser()
    if model_dir.is_dir():
        _check_shapes(path, model_dir)
    return AdapterInfo(path=path.resolve(), base=base, rank=rank, target_modules=targets)


def _check_shapes(adapter: Path, model_dir: Path) -> None:
    lora = _weight_shapes(adapter, "adapter_model")
    if not lora:
        raise GeneratorError(f"adapter {adapter} has no adapter_model.safetensors")
    base = _weight_shapes(model_dir, "")
    for key, shape in sorted(lora.items()):
        name = key.removeprefix("base_model.model.")
        for part, dim in ((".lora_A.weight", 1), (".lora_B.weight", 0)):
            if not name.endswith(part):
                continue
            base_key = name.removesuffix(part) + ".weight"
            if base_key not in base:
                raise GeneratorError(f"adapter {adapter} adapts {base_key!r}, which the model "
                                     f"in {model_dir} does not have: trained on another base?")
            if base[base_key][dim] != shape[dim]:
                raise GeneratorError(
                    f"adapter {adapter} does not fit the model in {model_dir}: {key} has shape "
                    f"{list(shape)} but {base_key} has {list(base[base_key])}")
