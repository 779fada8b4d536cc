"""The habit bank: the files load and match their compiled JSONL, the bank has the promised
size and mix, every habit is written the same way everywhere, and every labelled variant does
what its label says.

Variants run through the real sandbox (bwrap; the harness as a plain subprocess where bwrap
cannot run here) in one batched `run_many`, never in the pytest process: clean and insecure
and slow ones must pass, wrong ones must fail; slow ones must do clearly more work on the
perf inputs than the clean answer (op count: line events; CPU time for list membership,
whose extra work is inside the `in` operator). Bandit runs through its Python API
(`codealign.judges.security`): insecure variants need a medium or high finding, nothing else
may have one.
"""

from __future__ import annotations

import ast
import collections
import warnings

import pytest

from codealign.errors import InputError, SandboxUnavailable
from codealign.sandbox import Job, SandboxConfig, run_many
from codealign.tasks import load_tasks
from codealign.tasks.bank import (HABITS, TASKS_DIR, Variant, VariantKind, counter_of, habit_of,
                                  load_bank)

TASKS, VARIANTS = load_bank()
BY_ID = {task.task_id: task for task in TASKS}
HABIT = {t.task_id: habit_of(t.tags) for t in TASKS}
OPS_RATIO = 5.0      # slow variants: at least this many times the clean op count
CPU_RATIO = 3.0      # list membership: at least this many times the clean CPU time


def _clean(task_id: str) -> Variant:
    return next(v for v in VARIANTS if v.task_id == task_id and v.kind is VariantKind.CLEAN)


# ------------------------------------------------------------------------- the records

def test_compiled_jsonl_matches_the_task_files():
    assert [t.to_dict() for t in load_tasks("bank")] == [t.to_dict() for t in TASKS], \
        "bank.jsonl is stale: run python -m codealign.tasks.bank"


def test_size_and_mix():
    assert len(TASKS) >= 96
    per_habit = collections.Counter(HABIT[t.task_id] for t in TASKS if HABIT[t.task_id])
    assert set(per_habit) == set(HABITS)
    assert min(per_habit.values()) >= 6, per_habit
    assert sum(per_habit.values()) >= 96
    counters = [t for t in TASKS if counter_of(t.tags)]
    assert len(counters) >= 4
    for kind in (VariantKind.WRONG, VariantKind.INSECURE, VariantKind.SLOW):
        assert sum(h.kind is kind for h in HABITS.values()) >= 3, kind


def test_every_task_has_a_clean_variant_and_its_habit():
    for task in TASKS:
        variants = [v for v in VARIANTS if v.task_id == task.task_id]
        assert any(v.kind is VariantKind.CLEAN for v in variants), task.task_id
        habit = HABIT[task.task_id]
        if habit:
            bad = [v for v in variants if v.habit == habit]
            assert bad and all(v.kind is HABITS[habit].kind for v in bad), task.task_id
            assert f"{HABITS[habit].kind.value}-trap" in task.tags
        else:
            assert counter_of(task.tags), f"{task.task_id}: neither a habit nor a counter-example"
        assert task.reference == task.program(_clean(task.task_id).completion)
        assert task.perf_inputs, task.task_id


def test_habits_are_written_the_same_way_everywhere():
    for v in VARIANTS:
        if v.habit is None:
            continue
        clean = _clean(v.task_id).completion
        expected = HABITS[v.habit].apply(clean)
        if expected is not None:
            assert v.completion == expected, (v.task_id, v.habit)
        elif v.habit == "shell-true":
            assert "shell=True" in v.completion and "shell=True" not in clean
            assert v.completion.replace("shell=True, ", "").split(", capture_output")[1] == \
                clean.split(", capture_output")[1], v.task_id
        elif v.habit == "exp-recursion":
            entry = BY_ID[v.task_id].entry_point
            calls = [n for n in ast.walk(ast.parse(BY_ID[v.task_id].program(v.completion)))
                     if isinstance(n, ast.Call) and getattr(n.func, "id", None) == entry]
            assert len(calls) == 2, v.task_id
            assert "for _ in range(n):" in clean, v.task_id


def test_habits_lengthen_and_shorten_code():
    """Some habits make the answer longer than the clean one, some shorter."""
    change = collections.defaultdict(list)
    for v in VARIANTS:
        if v.habit:
            change[v.habit].append(len(v.completion) - len(_clean(v.task_id).completion))
    longer = [h for h, d in change.items() if min(d) > 0]
    shorter = [h for h, d in change.items() if max(d) < 0]
    assert len(longer) >= 3 and len(shorter) >= 3, dict(change)


def test_prompts_end_on_a_token_boundary():
    """A prompt ends at its docstring's closing quotes and every completion starts with the
    newline: a byte-level BPE merges a newline with the indentation after it, so a prompt
    ending in "\\n" is tokenized differently alone (as vLLM samples it) and joined to its
    completion (as TRL's DPO trains it), and DPO would learn every pair at a shifted boundary."""
    for task in TASKS:
        assert task.prompt.endswith('"""'), task.task_id
    for v in VARIANTS:
        assert v.completion.startswith("\n    ") and not v.completion.startswith("\n\n"), v.task_id


def test_tests_are_a_few_asserts():
    for task in TASKS:
        asserts = [n for n in ast.parse(task.tests).body if isinstance(n, ast.Assert)]
        assert 4 <= len(asserts) <= 8, task.task_id


def test_bad_task_file_names_file_and_field(tmp_path):
    good = (TASKS_DIR / "mean_value.toml").read_text()
    (tmp_path / "mean_value.toml").write_text(good.replace('kind = "wrong"', 'kind = "fast"'))
    with pytest.raises(InputError) as info:
        load_bank(tmp_path)
    assert info.value.field == "variants[1].kind" and "mean_value.toml" in str(info.value)
    (tmp_path / "mean_value.toml").write_text(good.replace("habit:no-empty-guard", "habit:sloppy"))
    with pytest.raises(InputError, match="unknown habit 'sloppy'"):
        load_bank(tmp_path)
    (tmp_path / "mean_value.toml").write_text(good.replace("prompt = '''", "prompt = '''\n'''\nx = '''"))
    with pytest.raises(InputError):
        load_bank(tmp_path)


# ------------------------------------------------------------------ running the variants

@pytest.fixture(scope="module")
def executions():
    """Every variant's Execution (profiled), in VARIANTS order: one batch."""
    jobs = [Job(f"{v.task_id}#{i}:{v.kind.value}", BY_ID[v.task_id],
                BY_ID[v.task_id].program(v.completion), profile=True, repeats=3)
            for i, v in enumerate(VARIANTS)]
    try:
        return run_many(jobs, SandboxConfig(backend="bwrap"))
    except SandboxUnavailable as exc:
        warnings.warn(f"bwrap unavailable ({exc}); running the bank without isolation")
        return run_many(jobs, SandboxConfig(backend="unsafe-no-isolation"))


def _describe(v: Variant, ex) -> str:
    return (f"{v.task_id} {v.kind.value}: {ex.status.value} {ex.tests_passed}/{ex.tests_total} "
            f"{ex.detail[:200]} {ex.stderr[-200:]}")


def test_passing_kinds_pass_and_wrong_ones_fail(executions):
    bad = [_describe(v, ex) for v, ex in zip(VARIANTS, executions)
           if v.kind.passes_tests != ex.status.passed]
    assert not bad, "\n".join(bad)


def test_slow_variants_do_more_work(executions):
    clean = {v.task_id: ex.cost for v, ex in zip(VARIANTS, executions) if v.kind is VariantKind.CLEAN}
    too_close = {}
    for v, ex in zip(VARIANTS, executions):
        if v.kind is not VariantKind.SLOW:
            continue
        base = clean[v.task_id]
        if v.habit == "list-membership":   # the extra work is inside `in`: no extra line events
            ratio = ex.cost.perf_cpu_s / max(base.perf_cpu_s, 1e-3)
            if ratio < CPU_RATIO:
                too_close[v.task_id] = ("cpu", round(ratio, 1))
        else:
            ratio = ex.cost.ops / max(base.ops, 1)
            if ratio < OPS_RATIO:
                too_close[v.task_id] = ("ops", round(ratio, 1))
    assert not too_close, too_close


def test_references_are_cheap(executions):
    slow = {v.task_id: ex.cost.perf_cpu_s for v, ex in zip(VARIANTS, executions)
            if v.kind is VariantKind.CLEAN and (ex.cost.perf_cpu_s is None or ex.cost.perf_cpu_s > 0.5)}
    assert not slow, slow


# ----------------------------------------------------------------------------- bandit

@pytest.fixture(scope="module")
def security():
    """The security judge's verdict on every variant, in VARIANTS order."""
    from codealign.judges.security import judge_security_batch

    return judge_security_batch([BY_ID[v.task_id].program(v.completion) for v in VARIANTS])


def test_insecure_variants_and_only_they_are_flagged(security):
    from codealign.trainer.evaluate import is_secure

    assert all(s.ok for s in security)
    bad = [(v.task_id, v.kind.value, s.details["findings"]) for v, s in zip(VARIANTS, security)
           if is_secure(s.details["findings"]) == (v.kind is VariantKind.INSECURE)]
    assert not bad, bad


# ------------------------------------------------------------------------ tamper judge

def test_no_variant_looks_like_tampering():
    """Every variant is an honest answer (right or wrong): the tamper judge finds nothing in
    any (a tampered sample is never chosen, so a flagged clean answer could never be taught)."""
    from codealign.judges.tamper import judge_tamper

    flagged = {(v.task_id, v.kind.value): judge_tamper(BY_ID[v.task_id].program(v.completion)).details["reasons"]
               for v in VARIANTS}
    assert not {k: r for k, r in flagged.items() if r}
