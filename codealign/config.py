"""The run config: the stage configs side by side, loaded from one YAML file.

A recipe (see ``configs/``) looks like::

    name: demo                 # the run directory is <run_dir>/<name>
    model: path/or/hub-id      # the base policy
    backend: vllm              # generator backend: vllm | hf | openai
    generator: {}              # options of the backend's constructor (e.g. max_model_len, dtype)
    tasks: bank                # a task spec for codealign.tasks.load_tasks
    rounds: 3
    seed: 0
    tasks_per_round: null      # train tasks sampled per round (null: all of them)
    parent_run: null           # lineage: start from this run's last promoted adapter (a run
                               # directory, or a run name under run_dir); the split is inherited
    initial_policy: null       # or: start from this LoRA adapter directory (not with parent_run)
    sampling:   {...}          # codealign.generator.SamplingConfig
    allocation: {...}          # codealign.runs.allocation.AllocationConfig (samples per train task)
    sandbox:    {...}          # codealign.sandbox.SandboxConfig
    judges:     {...}          # codealign.judges.JudgeConfig
    pairs:      {...}          # codealign.judges.PairConfig
    replay:     {...}          # codealign.runs.trainset.ReplayConfig (earlier pairs in training)
    dpo:        {...}          # codealign.trainer.TrainConfig
    evaluation: {...}          # codealign.trainer.EvalConfig
    gate:       {...}          # codealign.trainer.GateConfig

Everything is checked before any work starts. Each section is validated by its stage config
(a pydantic dataclass, `codealign.stage_config`), and pydantic's complaint becomes one
`ConfigError` at the dotted path users see: ``dpo.betta: unknown field (known: ...)``,
``sampling.n: must be ≥ 1, got 0``, ``judges.order[1]: must be 'efficiency', ...``. A model
that is neither an existing local path nor shaped like a hub id (``org/name``), and a task
spec that loads no task, are errors too.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from codealign.errors import ConfigError, InputError
from codealign.stage_config import config_error

if TYPE_CHECKING:
    from codealign.generator import SamplingConfig
    from codealign.judges import JudgeConfig, PairConfig
    from codealign.runs.allocation import AllocationConfig
    from codealign.runs.trainset import ReplayConfig
    from codealign.sandbox import SandboxConfig
    from codealign.trainer import EvalConfig, GateConfig, TrainConfig

__all__ = ["RunConfig", "load_config", "parse_config", "check_model", "check_tasks", "plain_data",
           "build_section", "BACKENDS", "RUN_NAME", "RUN_NAME_MAX", "is_run_name"]

BACKENDS = ("vllm", "hf", "openai")
RUN_NAME_MAX = 100
RUN_NAME = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{RUN_NAME_MAX - 1}}}$"
"""What a run's name (its directory under run_dir), a recipe's name and a lineage may be: the
config checks it, the API's schema states it, the dashboard's routes match it."""


def is_run_name(name: object) -> bool:
    """Whether `name` is a run name (`RUN_NAME`).

    >>> is_run_name("demo-night-0001"), is_run_name("../x"), is_run_name("a" * 101)
    (True, False, False)
    """
    return isinstance(name, str) and re.fullmatch(RUN_NAME, name) is not None
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def _sections() -> dict[str, type]:
    """Section name -> stage config class (imported here: the configs are light modules)."""
    from codealign.generator import SamplingConfig
    from codealign.judges import JudgeConfig, PairConfig
    from codealign.runs.allocation import AllocationConfig
    from codealign.runs.trainset import ReplayConfig
    from codealign.sandbox import SandboxConfig
    from codealign.trainer import EvalConfig, GateConfig, TrainConfig

    return {"sampling": SamplingConfig, "allocation": AllocationConfig, "sandbox": SandboxConfig,
            "judges": JudgeConfig, "pairs": PairConfig, "replay": ReplayConfig, "dpo": TrainConfig,
            "evaluation": EvalConfig, "gate": GateConfig}


def _default(section: str) -> Any:
    """A RunConfig field defaulting to the section's default config."""
    return field(default_factory=lambda: _sections()[section]())


@dataclass
class RunConfig:
    """One run of the loop. The stage sections hold the stage config objects."""

    model: str
    tasks: str
    name: str = "run"
    backend: str = "vllm"
    rounds: int = 3
    seed: int = 0
    tasks_per_round: int | None = None
    run_dir: str = "runs"
    parent_run: str | None = None
    """Start from this run's last promoted policy (a run directory or a name under run_dir)."""
    initial_policy: str | None = None
    """Start from this LoRA adapter directory instead of the base model."""
    generator: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the generator backend's constructor (checked against its signature)."""
    sampling: SamplingConfig = _default("sampling")
    allocation: AllocationConfig = _default("allocation")
    sandbox: SandboxConfig = _default("sandbox")
    judges: JudgeConfig = _default("judges")
    pairs: PairConfig = _default("pairs")
    replay: ReplayConfig = _default("replay")
    dpo: TrainConfig = _default("dpo")
    evaluation: EvalConfig = _default("evaluation")
    gate: GateConfig = _default("gate")
    source: str = field(default="", compare=False)
    """The file it was loaded from (for messages)."""

    def section_dicts(self) -> dict[str, Any]:
        """Every field as plain data (the stage configs as dicts), for manifests and hashing."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "source":
                continue
            value = getattr(self, f.name)
            out[f.name] = plain_data(value)
        return out

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir) / self.name

    def generator_kwargs(self) -> dict[str, Any]:
        """The backend options; vLLM's LoRA rank limit is raised to hold the trained rank
        (vLLM accepts powers of two)."""
        options = dict(self.generator)
        if self.backend == "vllm":
            options.setdefault("max_lora_rank", max(16, 1 << (self.dpo.lora_r - 1).bit_length()))
        return options


def plain_data(value: Any) -> Any:
    """Config objects as JSON-able data (dataclasses -> dicts, enums -> values, tuples -> lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    return value


def build_section(cls: type, data: Any, prefix: str, source: str) -> Any:
    """Construct one stage config; pydantic's first complaint becomes a ConfigError at its
    dotted path (``prefix.field``, `codealign.stage_config.config_error`)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"must be a mapping, got {type(data).__name__}", path=source, field=prefix)
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as exc:
        raise config_error(exc, cls, prefix=prefix, path=source) from None


def check_model(model: str, source: str = "") -> None:
    """A local path that exists, or a string shaped like a hub id (``org/name``)."""
    if not isinstance(model, str) or not model:
        raise ConfigError(f"must be a model path or hub id, got {model!r}", path=source, field="model")
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").exists():
            raise ConfigError(f"{model} is a directory without config.json, not a model",
                              path=source, field="model")
        return
    if model.startswith(("/", ".", "~")) or not _HUB_ID.match(model):
        raise ConfigError(f"model path {model} does not exist (and is not a hub id like org/name)",
                          path=source, field="model")


def parse_config(data: Any, source: str = "<config>", *, check: bool = True) -> RunConfig:
    """Build and validate a RunConfig from parsed YAML. `check` also verifies model and tasks."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a YAML mapping", path=source)
    sections = _sections()
    top = {f.name for f in dataclasses.fields(RunConfig) if f.name not in sections and f.name != "source"}
    for key in data:
        if key not in top and key not in sections:
            raise ConfigError(f"unknown field (known: {', '.join(sorted(top | set(sections)))})",
                              path=source, field=str(key))
    for required in ("model", "tasks"):
        if required not in data:
            raise ConfigError("is required", path=source, field=required)
    plain = {k: v for k, v in data.items() if k in top}
    built = {name: build_section(cls, data.get(name), name, source) for name, cls in sections.items()}
    config = RunConfig(**plain, **built, source=source)

    if not is_run_name(config.name):
        raise ConfigError(f"must be a simple directory name (letters, digits, . _ -; at most "
                          f"{RUN_NAME_MAX} characters), got {config.name!r}", path=source, field="name")
    if config.backend not in BACKENDS:
        raise ConfigError(f"must be one of {list(BACKENDS)}, got {config.backend!r}", path=source,
                          field="backend")
    for name in ("rounds", "seed"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name == "rounds" else 0):
            raise ConfigError(f"must be an integer >= {1 if name == 'rounds' else 0}, got {value!r}",
                              path=source, field=name)
    if config.tasks_per_round is not None and (not isinstance(config.tasks_per_round, int)
                                               or config.tasks_per_round < 1):
        raise ConfigError(f"must be a positive integer or null, got {config.tasks_per_round!r}",
                          path=source, field="tasks_per_round")
    for name in ("parent_run", "initial_policy"):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"must be a path or null, got {value!r}", path=source, field=name)
    if config.parent_run is not None and config.initial_policy is not None:
        raise ConfigError("give parent_run or initial_policy, not both", path=source, field="initial_policy")
    _check_generator_options(config)
    if check:
        check_model(config.model, source)
        check_tasks(config)
    return config


def _check_generator_options(config: RunConfig) -> None:
    """Each generator option must be a keyword of the backend's constructor."""
    import inspect

    from codealign.generator.hf import HFGenerator
    from codealign.generator.openai import OpenAIGenerator
    from codealign.generator.vllm import VLLMGenerator

    if not isinstance(config.generator, dict):
        raise ConfigError(f"must be a mapping of backend options, got {config.generator!r}",
                          path=config.source, field="generator")
    backend = {"vllm": VLLMGenerator, "hf": HFGenerator, "openai": OpenAIGenerator}[config.backend]
    known = [n for n, p in inspect.signature(backend.__init__).parameters.items()
             if p.kind is p.KEYWORD_ONLY]
    for key in config.generator:
        if key not in known:
            raise ConfigError(f"unknown option of the {config.backend} backend (known: {', '.join(known)})",
                              path=config.source, field=f"generator.{key}")
    rank = config.generator.get("max_lora_rank")
    if config.backend == "vllm" and rank is not None and rank < config.dpo.lora_r:
        raise ConfigError(f"vLLM's max_lora_rank {rank} is below dpo.lora_r {config.dpo.lora_r}",
                          path=config.source, field="generator.max_lora_rank")


def check_tasks(config: RunConfig) -> list:
    """Load the task set; an empty one (or fewer than two, which cannot be split) is an error."""
    from codealign.tasks import load_tasks

    if not isinstance(config.tasks, str) or not config.tasks:
        raise ConfigError(f"must be a task spec, got {config.tasks!r}", path=config.source, field="tasks")
    try:
        tasks = load_tasks(config.tasks)
    except ConfigError:
        raise
    except InputError as exc:
        raise ConfigError(str(exc), path=config.source, field="tasks") from None
    if not tasks:
        raise ConfigError(f"task set {config.tasks!r} is empty", path=config.source, field="tasks")
    if len(tasks) < 2:
        raise ConfigError(f"task set {config.tasks!r} has {len(tasks)} task; the loop needs at least "
                          "two (train and held-out)", path=config.source, field="tasks")
    return tasks


def load_config(path: str | Path, overrides: dict[str, Any] | None = None, *,
                check: bool = True) -> RunConfig:
    """Read a YAML recipe, apply top-level `overrides` (e.g. ``{"rounds": 1}``), validate it."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=str(path),
                          line=mark.line + 1 if mark else None) from None
    if data is None:
        data = {}
    if isinstance(data, dict):
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return parse_config(data, str(path), check=check)
