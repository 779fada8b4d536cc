"""Recipes are the operator's; overrides are the API caller's.

A recipe is ``<configs_dir>/NAME.yaml``, a file on the service's host. It fixes the
infrastructure of a run: the model, the generator backend and its URLs and key, the sandbox
backend and every one of its limits, the executor and its Ray address, paths, lineage. An API
caller (`POST /v1/runs`, `PUT /v1/schedule`, `POST /v1/runs/{name}/resume`) names a recipe and
may change only the experiment knobs of `Overrides` (typed, bounded, in the OpenAPI document;
anything else is a 422 naming the field, before anything is read) and choose the tasks from
`TaskSelection` (the store's, or a task set the service knows by name: never a path).

    recipe (YAML, the operator's)  --read-->  data  --Overrides.apply-->  data'  --parse_config-->  RunConfig
                                                                                     |
                                  operator checks (unsafe sandbox, a key written in the recipe)

The ceilings in the schema are the service's hard limits; `Settings.max_*` may lower them for
one service (a value above the operator's limit is a 422 saying which setting), never raise
them. A recipe's own values are the operator's and are not bounded by these.

Who is at fault decides what a caller is told: a bad override value is a 422 naming
``overrides.<field>`` with the reason; a recipe that does not validate on this host (a model
path that is gone, a missing task file) is the operator's, logged in full, and the caller only
learns which recipe field is wrong — never a server path or a recipe's contents.
"""

from __future__ import annotations

import enum
import logging
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from codealign.config import RUN_NAME, RunConfig, check_model, parse_config
from codealign.errors import ConfigError, InputError

__all__ = ["NAME", "Overrides", "SamplingOverrides", "DPOOverrides", "EvaluationOverrides",
           "TaskSelection", "recipe_path", "load_recipe", "nightly_overrides", "HARD_MAX_ROUNDS"]

log = logging.getLogger("codealign.service.recipes")
NAME = RUN_NAME   # recipe names follow the run-name rule (one definition: codealign.config)
HARD_MAX_ROUNDS = 100
_SECTIONS = ("sampling", "dpo", "evaluation")


class _Knobs(BaseModel):
    """Knobs are JSON numbers: ``true`` or ``"5"`` is refused (``5.0`` is the integer 5, as JSON
    Schema has it); an unknown knob is refused."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_number(cls, value: Any, info) -> Any:
        section = info.field_name in _SECTIONS
        if isinstance(value, (bool, str)) and not section:
            raise ValueError("must be a number")
        return value


class SamplingOverrides(_Knobs):
    """`sampling` knobs (`codealign.generator.SamplingConfig`)."""

    n: int | None = Field(None, ge=1, le=64, description="Samples per task per round (≤ CODEALIGN_MAX_SAMPLES).")
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)


class DPOOverrides(_Knobs):
    """`dpo` knobs (`codealign.trainer.TrainConfig`)."""

    beta: float | None = Field(None, gt=0, le=10, allow_inf_nan=False)
    learning_rate: float | None = Field(None, gt=0, le=1e-2, allow_inf_nan=False)
    epochs: float | None = Field(None, gt=0, le=50, allow_inf_nan=False,
                                 description="≤ CODEALIGN_MAX_DPO_EPOCHS.")


class EvaluationOverrides(_Knobs):
    """`evaluation` knobs (`codealign.trainer.EvalConfig`)."""

    n_samples: int | None = Field(None, ge=1, le=200, description=(
        "Samples per held-out task (≤ CODEALIGN_MAX_EVAL_SAMPLES; at least the recipe's largest k)."))


# (dotted field, Settings field): the ceilings the operator may lower.
_LIMITS = (("rounds", "max_rounds"), ("tasks_per_round", "max_tasks_per_round"),
           ("sampling.n", "max_samples"), ("evaluation.n_samples", "max_eval_samples"),
           ("dpo.epochs", "max_dpo_epochs"))


class Overrides(_Knobs):
    """The experiment knobs an API caller may change in a recipe; nothing else."""

    rounds: int | None = Field(None, ge=1, le=HARD_MAX_ROUNDS, description="≤ CODEALIGN_MAX_ROUNDS.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Picks each round's train tasks.")
    tasks_per_round: int | None = Field(None, ge=1, le=100_000, description=(
        "Train tasks sampled per round (≤ CODEALIGN_MAX_TASKS_PER_ROUND)."))
    sampling: SamplingOverrides | None = None
    dpo: DPOOverrides | None = None
    evaluation: EvaluationOverrides | None = None

    def values(self) -> dict[str, Any]:
        """The knobs given, by dotted name (``{"sampling.n": 4}``)."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, dict):
                out.update({f"{name}.{k}": v for k, v in value.items()})
            else:
                out[name] = value
        return out

    def check_limits(self, settings) -> None:
        """`ConfigError` at ``overrides.<field>`` for a value over the operator's ceiling."""
        given = self.values()
        for field, setting in _LIMITS:
            limit = getattr(settings, setting)
            if field in given and given[field] > limit:
                raise ConfigError(f"at most {limit:g} on this service (CODEALIGN_{setting.upper()}), "
                                  f"got {given[field]:g}", field=f"overrides.{field}")

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """A copy of the recipe `data` with these knobs set (each one by name, as a typed
        value); the sections keep the recipe's other fields."""
        out = dict(data)
        for dotted, value in self.values().items():
            section, _, key = dotted.partition(".")
            if not key:
                out[section] = value
                continue
            current = out.get(section)
            out[section] = {**(current if isinstance(current, dict) else {}), key: value}
        return out

    def touches(self, field: str) -> bool:
        """Whether an error at recipe field `field` (``dpo.beta``, ``evaluation.k``) may come
        from these knobs: the field itself, or another field of a section they change."""
        given = self.values()
        section = field.partition(".")[0]
        return field in given or any(k.partition(".")[0] == section and "." in k for k in given)


class TaskSelection(str, enum.Enum):
    """Where a run's tasks come from. Never a path."""

    CONFIG = "config"            # the recipe's own task set (the operator's)
    ACTIVE = "active"            # the store's `active` tasks, snapshotted at the start
    BANK = "bank"                # task sets this service knows by name
    HUMANEVAL = "humaneval"
    MBPP = "mbpp"

    @property
    def named_set(self) -> str | None:
        return None if self in (TaskSelection.CONFIG, TaskSelection.ACTIVE) else self.value


def recipe_path(settings, name: str) -> Path:
    """``<configs_dir>/NAME.yaml``; `ConfigError` for a name that is not one, `NotFound` when absent."""
    from codealign.service.errors import NotFound

    if not isinstance(name, str) or not re.fullmatch(NAME, name):
        raise ConfigError("must be a recipe name (letters, digits, . _ -)", field="recipe")
    path = Path(settings.configs_dir).resolve() / f"{name}.yaml"
    if not path.is_file():
        raise NotFound(f"no recipe {name!r} in the service's configs directory")
    return path


class RecipeUnusable(ConfigError):
    """The operator's recipe cannot run here; the caller is told which field, the log why."""


def _unusable(recipe: str, field: str | None, why: str) -> RecipeUnusable:
    log.error("recipe %s cannot be used: %s", recipe, why)
    where = f" (field {field})" if field else ""
    return RecipeUnusable(f"the recipe {recipe!r} cannot be used on this service{where}; the "
                          "service's log says why", field="config")


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _unusable(path.stem, None, f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise _unusable(path.stem, None, f"{path}: not a YAML mapping")
    return data


def _operator_checks(config: RunConfig, recipe: str, settings) -> None:
    """What a recipe may not do on a service: run candidates unsandboxed (unless the operator
    said so at `codealign serve`), or hold a secret that every run would copy into its
    config.json; a generator URL must be a plain server root."""
    from codealign.sandbox.config import UNSAFE_BACKEND

    if config.sandbox.backend == UNSAFE_BACKEND and not (settings and settings.allow_unsafe_no_isolation):
        raise ConfigError(f"the recipe {recipe!r} uses the {UNSAFE_BACKEND!r} sandbox, which this "
                          "service does not run (the operator may allow it: codealign serve "
                          "--allow-unsafe-no-isolation)", field="config")
    if config.generator.get("api_key"):
        raise _unusable(recipe, "generator.api_key",
                        "generator.api_key is written in the recipe: every run would copy it into "
                        "its config.json; set generator.api_key_env to the name of an environment "
                        "variable of the service that holds the key")
    if config.backend == "openai":
        from codealign.errors import GeneratorError
        from codealign.generator.openai import server_roots

        try:
            server_roots(config.generator.get("base_url", "http://127.0.0.1:8000"))
        except GeneratorError as exc:
            raise _unusable(recipe, "generator.base_url", str(exc)) from None


def load_recipe(path: Path, overrides: Overrides | None = None, *, settings=None,
                run_dir: str | Path, run_name: str | None = None,
                tasks: TaskSelection = TaskSelection.CONFIG) -> RunConfig:
    """The recipe at `path` with the caller's `overrides` and task selection, validated by
    `codealign.config.parse_config` (and, but for ``tasks=active``, its model and tasks
    checked). `settings` (the service's) bounds the overrides and may allow the unsafe
    sandbox; without it only the schema's ceilings hold and the unsafe sandbox is refused."""
    overrides = overrides or Overrides()
    if settings is not None:
        overrides.check_limits(settings)
    recipe = path.stem
    data = overrides.apply(_read(path))
    data["run_dir"] = str(run_dir)
    if run_name is not None:
        data["name"] = run_name
    if tasks.named_set is not None:
        from codealign.tasks.loaders import resolve_spec

        try:
            resolve_spec(tasks.named_set)
        except InputError:
            raise ConfigError(f"the task set {tasks.value!r} is not installed on this service",
                              field="tasks") from None
        data["tasks"] = tasks.named_set
    try:
        config = parse_config(data, f"recipe {recipe}", check=False)
        if tasks is not TaskSelection.ACTIVE:
            from codealign.config import check_tasks
            check_model(config.model, config.source)
            check_tasks(config)
        else:
            check_model(config.model, config.source)
    except ConfigError as exc:
        if exc.field and overrides.touches(exc.field):
            raise ConfigError(exc.reason, field=f"overrides.{exc.field}") from None
        raise _unusable(recipe, exc.field, str(exc)) from None
    _operator_checks(config, recipe, settings)
    return config


def nightly_overrides(path: Path, overrides: Overrides) -> dict[str, Any]:
    """The top-level overrides for ``codealign nightly --overrides`` that apply `overrides` to
    the recipe at `path` as it is now: each section they touch, whole (the recipe's other
    fields of it included), and each top-level knob."""
    applied = overrides.apply(_read(path))
    return {name: applied[name] for name in overrides.model_dump(exclude_none=True)}
