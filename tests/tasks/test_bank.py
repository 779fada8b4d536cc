"""The built-in task bank and its seed variants: the files match their source, the bank has
the promised size and mix, and every labelled variant does what its label says.

Variants run through the real sandbox (bwrap; the harness as a plain subprocess where bwrap
cannot run here), never in the pytest process: clean, slow, insecure and convoluted ones
must pass, wrong ones must fail, slow ones must cost at least 3x the clean CPU time on the
task's perf inputs (the source aims at >= 5x). Bandit runs through its Python API on the
whole modules: insecure variants need a medium or high finding, nothing else may have one.
"""

from __future__ import annotations

import ast
import collections
import json
import logging
import warnings

import pytest

from codealign.errors import InputError, SandboxUnavailable
from codealign.sandbox import Job, SandboxConfig, run_many
from codealign.tasks import bank_source, load_tasks
from codealign.tasks.bank import Variant, VariantKind, load_variants

TASKS = load_tasks("bank")
BY_ID = {task.task_id: task for task in TASKS}
VARIANTS = load_variants()
KINDS = collections.defaultdict(list)
for _v in VARIANTS:
    KINDS[_v.task_id].append(_v.kind)

TOPICS = {"strings", "lists", "dicts", "arithmetic", "parsing", "search"}
SUBPROCESS_LOW = {"B404", "B603", "B607"}  # any subprocess use; low severity, expected
FAST_REFERENCE_CPU_S = 0.5
SLOW_RATIO = 3.0


def _is_trap(task, trap: str) -> bool:
    return trap in task.tags


# ------------------------------------------------------------------------- the records

def test_files_match_the_source_module():
    assert [t.to_dict() for t in TASKS] == [t.to_dict() for t in bank_source.build_tasks()], \
        "bank.jsonl is stale: run python -m codealign.tasks.bank_source"
    assert VARIANTS == bank_source.build_variants(), \
        "variants.jsonl is stale: run python -m codealign.tasks.bank_source"


def test_size_ids_and_tags():
    assert len(TASKS) >= 60
    ids = [t.task_id for t in TASKS]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("bank/") and i[5:] == BY_ID[i].entry_point for i in ids)
    tags = collections.Counter(tag for t in TASKS for tag in t.tags)
    assert tags["insecure-trap"] >= 12 and tags["slow-trap"] >= 12, tags
    assert all(tags[topic] >= 8 for topic in TOPICS), tags
    for task in TASKS:
        assert task.prompt_style == "code" and task.source == "bank"
        assert TOPICS & set(task.tags), task.task_id
        assert task.perf_inputs, task.task_id
        assert not (_is_trap(task, "slow-trap") and _is_trap(task, "insecure-trap")), task.task_id


def test_every_task_has_its_kinds_of_variant():
    assert set(KINDS) == set(BY_ID), "variants for unknown tasks, or tasks without variants"
    for task_id, kinds in KINDS.items():
        task = BY_ID[task_id]
        assert len(kinds) >= 4, task_id
        assert VariantKind.CLEAN in kinds and VariantKind.WRONG in kinds, task_id
        assert (VariantKind.SLOW in kinds) == _is_trap(task, "slow-trap"), task_id
        assert (VariantKind.INSECURE in kinds) == _is_trap(task, "insecure-trap"), task_id
        if VariantKind.INSECURE not in kinds:
            assert VariantKind.CONVOLUTED in kinds, task_id
        if VariantKind.SLOW not in kinds:
            assert kinds.count(VariantKind.CLEAN) >= 2, task_id


def test_reference_is_the_prompt_and_the_first_clean_variant():
    for task in TASKS:
        first_clean = next(v for v in VARIANTS
                           if v.task_id == task.task_id and v.kind is VariantKind.CLEAN)
        assert task.reference == task.program(first_clean.completion), task.task_id


def _literal_shape(node: ast.stmt, entry_point: str) -> bool:
    """`assert f(<literals>) == <literal>` (or `is <literal>`), which the sandbox compares
    outside the candidate's process."""
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], (ast.Eq, ast.Is))
            and isinstance(test.left, ast.Call) and isinstance(test.left.func, ast.Name)
            and test.left.func.id == entry_point and not test.left.keywords):
        return False
    try:
        for arg in [*test.left.args, test.comparators[0]]:
            ast.literal_eval(arg)
    except ValueError:
        return False
    return True


def test_tests_are_a_few_mostly_literal_asserts():
    literal = total = 0
    for task in TASKS:
        asserts = [n for n in ast.parse(task.tests).body if isinstance(n, ast.Assert)]
        assert 4 <= len(asserts) <= 8, (task.task_id, len(asserts))
        shaped = sum(_literal_shape(a, task.entry_point) for a in asserts)
        literal, total = literal + shaped, total + len(asserts)
    assert literal / total >= 0.9, f"only {literal}/{total} asserts have the literal shape"


def test_functions_are_short():
    for v in VARIANTS:
        lines = [line for line in v.completion.splitlines() if line.strip()]
        limit = 20 if v.kind is VariantKind.CONVOLUTED else 15
        assert 1 <= len(lines) <= limit, (v.task_id, v.kind, len(lines))


def test_variant_loader_names_line_and_field(tmp_path):
    path = tmp_path / "variants.jsonl"
    good = Variant("bank/fib", VariantKind.CLEAN, "    return n\n").to_dict()
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "kind": "fast"}) + "\n")
    with pytest.raises(InputError) as info:
        load_variants(path)
    assert (info.value.line, info.value.field) == (2, "kind")
    path.write_text(json.dumps({"task_id": "bank/fib", "kind": "clean"}) + "\n")
    with pytest.raises(InputError, match="completion"):
        load_variants(path)
    path.write_text(json.dumps(good) + "\n")
    assert load_variants(path) == [Variant("bank/fib", VariantKind.CLEAN, "    return n\n")]


# ------------------------------------------------------------------ running the variants

def _profiled(task, variant: Variant, first_clean: bool) -> bool:
    if first_clean:
        return True  # the reference: it must be fast on the perf inputs
    return _is_trap(task, "slow-trap") and variant.kind in (VariantKind.CLEAN, VariantKind.SLOW)


@pytest.fixture(scope="module")
def executions():
    """Every variant's Execution, in VARIANTS order."""
    jobs, seen = [], set()
    for index, variant in enumerate(VARIANTS):
        task = BY_ID[variant.task_id]
        first_clean = variant.kind is VariantKind.CLEAN and task.task_id not in seen
        if first_clean:
            seen.add(task.task_id)
        jobs.append(Job(f"{task.task_id}#{index}:{variant.kind.value}", task,
                        task.program(variant.completion),
                        profile=_profiled(task, variant, first_clean), repeats=1))
    try:
        return run_many(jobs, SandboxConfig(backend="bwrap"))
    except SandboxUnavailable as exc:
        warnings.warn(f"bwrap unavailable ({exc}); running the bank without isolation")
        return run_many(jobs, SandboxConfig(backend="unsafe-no-isolation"))


def _describe(variant: Variant, ex) -> str:
    return (f"{variant.task_id} {variant.kind.value}: {ex.status.value} "
            f"{ex.tests_passed}/{ex.tests_total} {ex.detail[:200]} {ex.stderr[-200:]}")


def test_passing_kinds_pass(executions):
    bad = [_describe(v, ex) for v, ex in zip(VARIANTS, executions)
           if v.kind.passes_tests and not ex.status.passed]
    assert not bad, "\n".join(bad)


def test_wrong_variants_fail(executions):
    bad = [_describe(v, ex) for v, ex in zip(VARIANTS, executions)
           if v.kind is VariantKind.WRONG and ex.status.passed]
    assert not bad, "\n".join(bad)


def test_references_are_fast_on_perf_inputs(executions):
    seen, slow = set(), []
    for v, ex in zip(VARIANTS, executions):
        if v.kind is VariantKind.CLEAN and v.task_id not in seen:
            seen.add(v.task_id)
            cpu = ex.cost.perf_cpu_s
            if cpu is None or cpu > FAST_REFERENCE_CPU_S:
                slow.append(f"{v.task_id}: {cpu}")
    assert len(seen) == len(TASKS)
    assert not slow, slow


def test_slow_variants_are_clearly_slower(executions):
    clean, slow = collections.defaultdict(list), {}
    for v, ex in zip(VARIANTS, executions):
        if _is_trap(BY_ID[v.task_id], "slow-trap") and ex.cost.perf_cpu_s is not None:
            if v.kind is VariantKind.CLEAN:
                clean[v.task_id].append(ex.cost.perf_cpu_s)
            elif v.kind is VariantKind.SLOW:
                slow[v.task_id] = ex.cost.perf_cpu_s
    slow_tasks = [t.task_id for t in TASKS if _is_trap(t, "slow-trap")]
    assert set(slow) == set(slow_tasks) and set(clean) == set(slow_tasks)
    # A floor of 1 ms on the clean time keeps timer noise out of the ratio.
    ratios = {tid: slow[tid] / max(max(clean[tid]), 1e-3) for tid in slow_tasks}
    too_close = {tid: round(r, 1) for tid, r in ratios.items() if r < SLOW_RATIO}
    assert not too_close, too_close


# ----------------------------------------------------------------------------- bandit

@pytest.fixture(scope="module")
def bandit_findings(tmp_path_factory):
    """(test_id, severity) findings per variant, in VARIANTS order, from bandit's API."""
    from bandit.core import config as b_config
    from bandit.core import manager as b_manager

    root = tmp_path_factory.mktemp("bank-variants")
    paths = []
    for index, v in enumerate(VARIANTS):
        path = root / f"v{index:04d}.py"
        path.write_text(BY_ID[v.task_id].program(v.completion))
        paths.append(str(path))
    logging.getLogger("bandit").setLevel(logging.ERROR)
    manager = b_manager.BanditManager(b_config.BanditConfig(), "file")
    manager.discover_files(paths, False)
    manager.run_tests()
    assert not manager.skipped, manager.skipped
    found = collections.defaultdict(list)
    for issue in manager.get_issue_list():
        found[issue.fname].append((issue.test_id, str(issue.severity)))
    return [found.get(p, []) for p in paths]


def _serious(findings) -> list:
    return [f for f in findings if f[1] in ("MEDIUM", "HIGH")]


def test_insecure_variants_have_a_medium_or_high_finding(bandit_findings):
    bad = [(v.task_id, found) for v, found in zip(VARIANTS, bandit_findings)
           if v.kind is VariantKind.INSECURE and not _serious(found)]
    assert not bad, bad


def test_other_variants_have_no_medium_or_high_finding(bandit_findings):
    bad = [(v.task_id, v.kind.value, found) for v, found in zip(VARIANTS, bandit_findings)
           if v.kind is not VariantKind.INSECURE and _serious(found)]
    assert not bad, bad


def test_clean_variants_are_bandit_clean(bandit_findings):
    bad = [(v.task_id, found) for v, found in zip(VARIANTS, bandit_findings)
           if v.kind is VariantKind.CLEAN and {t for t, _ in found} - SUBPROCESS_LOW]
    assert not bad, bad


# ------------------------------------------------------------------------------ radon

def test_convoluted_variants_are_more_complex_than_clean_ones():
    from radon.complexity import cc_visit

    def complexity(v: Variant) -> int:
        task = BY_ID[v.task_id]
        blocks = cc_visit(task.program(v.completion))
        return sum(b.complexity for b in blocks if b.name == task.entry_point)

    scores = collections.defaultdict(lambda: collections.defaultdict(list))
    for v in VARIANTS:
        scores[v.task_id][v.kind].append(complexity(v))
    bad = {tid: dict(by_kind) for tid, by_kind in scores.items()
           if VariantKind.CONVOLUTED in by_kind
           and min(by_kind[VariantKind.CONVOLUTED]) <= max(by_kind[VariantKind.CLEAN])}
    assert not bad, bad
