"""`codealign ...`: every stage runnable alone. Heavy imports stay inside each command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from codealign.errors import CodealignError, ExitStatus

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Code-quality alignment: sample, sandbox, judge, pair, DPO.")


tasks_app = typer.Typer(no_args_is_help=True, help="Inspect and check task files.")
app.add_typer(tasks_app, name="tasks")

TaskSpec = Annotated[str, typer.Argument(
    help="A task file (our JSONL, HumanEval .jsonl[.gz], mbpp.jsonl, sanitized-mbpp.json) "
         "or a task set name: humaneval, bank, mbpp, mbpp-sanitized.")]


SamplesFile = Annotated[Path, typer.Argument(
    help="Samples JSONL: Sample records (codealign sample), or {task_id, sample_id?, code} "
         "lines (a whole module; EvalPlus's 'solution' likewise), or {task_id, sample_id?, "
         "completion} lines (appended to the prompt). Other fields are kept as metadata; "
         "task ids as datasets publish them (Mbpp/2, 2, HumanEval/0) are matched.")]
SandboxBackend = Annotated[str, typer.Option(help="Sandbox backend: bwrap, docker, unsafe-no-isolation.")]
SandboxWorkers = Annotated[int, typer.Option(help="Parallel sandboxes (0 = all cores).")]


@tasks_app.command("list")
def tasks_list(spec: TaskSpec) -> None:
    """List the tasks of a file or task set."""
    from rich.console import Console
    from rich.table import Table

    from codealign.tasks import load_tasks

    tasks = load_tasks(spec)
    table = Table(title=f"{len(tasks)} tasks from {spec}")
    for column in ("id", "entry point", "style", "#tags", "reference", "#perf inputs"):
        table.add_column(column, justify="right" if column.startswith("#") else "left",
                         overflow="fold")
    for t in tasks:
        table.add_row(t.task_id, t.entry_point, t.prompt_style, str(len(t.tags)),
                      "yes" if t.reference is not None else "no", str(len(t.perf_inputs)))
    Console().print(table)


@tasks_app.command("check")
def tasks_check(
    spec: TaskSpec,
    backend: SandboxBackend = "bwrap",
    workers: SandboxWorkers = 0,
    strength: Annotated[bool, typer.Option(
        "--strength/--no-strength", help="Also measure each task's test strength: the "
        "mutation score of its tests on its reference's one-edit mutants.")] = True,
    mutants: Annotated[Optional[int], typer.Option(
        help="Most mutants per task (default: codealign.judges.mutants.MAX_MUTANTS).", min=1)] = None,
) -> None:
    """Run every task's reference through the sandbox; exit 1 if any does not pass.

    Then (unless --no-strength) the test strength of every task with a passing reference:
    the share of its reference's non-equivalent mutants its tests kill (mutants that agree
    with the reference on every input tried count as likely equivalent), per task and in
    summary; tasks below the weak-tests threshold are named. Weak tests do not change the
    exit status.
    """
    from rich.console import Console
    from rich.table import Table

    from codealign.sandbox import Job, SandboxConfig, run_many
    from codealign.tasks import load_tasks, reference_id

    console = Console()
    tasks = load_tasks(spec)
    checked = [t for t in tasks if t.reference is not None]
    config = SandboxConfig(backend=backend, workers=workers)
    jobs = [Job(sample_id=reference_id(t), task=t, code=t.reference) for t in checked]
    results = run_many(jobs, config=config, progress=True)
    failing = [(t, r) for t, r in zip(checked, results) if not r.status.passed]
    console.print(f"{len(checked) - len(failing)}/{len(checked)} references pass "
                  f"({len(tasks) - len(checked)} tasks have no reference)")
    if strength:
        _print_strength(console, [t for t, r in zip(checked, results) if r.status.passed],
                        {t.task_id: r for t, r in zip(checked, results)}, config, mutants)
    if failing:
        table = Table(title="references that do not pass")
        for column in ("id", "status", "tests", "detail"):
            table.add_column(column)
        for t, r in failing:
            table.add_row(t.task_id, r.status.value, f"{r.tests_passed}/{r.tests_total}",
                          (r.detail or r.stderr or "").strip()[-200:])
        console.print(table)
        raise typer.Exit(ExitStatus.FAILED)


def _print_strength(console, tasks, references, config, limit: int | None) -> None:
    """`tasks check`'s test-strength table and summary."""
    from rich.table import Table

    from codealign.judges.mutants import MAX_MUTANTS
    from codealign.judges.strength import (WEAK_TESTS_THRESHOLD, measure_strength, strengthened_inputs, summary,
                                           weak_tests)

    strengthened = strengthened_inputs(tasks, config) if config.differential else None
    strengths = measure_strength(tasks, config, strengthened=strengthened, references=references,
                                 limit=limit or MAX_MUTANTS, progress=True)
    table = Table(title="test strength (mutation score of each task's tests)")
    for column in ("id", "mutants", "killed", "likely equivalent", "score", "with strengthening",
                   "a surviving mutant"):
        table.add_column(column, justify="right" if column in ("mutants", "killed", "score") else "left",
                         overflow="fold")
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    for s in strengths:
        table.add_row(s.task_id, str(s.mutants), str(s.killed), str(s.equivalent), fmt(s.score),
                      fmt(s.strengthened_score),
                      s.survivors[0].mutant.description if s.survivors else (s.why or "-"))
    console.print(table)
    total = summary(strengths)
    console.print(f"test strength: {total['scored']}/{total['tasks']} tasks scored, "
                  f"{total['mutants']} mutants, {total['killed']} killed, "
                  f"{total['likely_equivalent']} likely equivalent; mutation score pooled "
                  f"{fmt(total['pooled_score'] if total['scored'] else None)}, per task median "
                  f"{fmt(total['tests']['median'])}, min {fmt(total['tests']['min'])}; with "
                  f"strengthening {fmt(total['strengthened']['median'])}; "
                  f"{total['weak']} below the weak-tests threshold {WEAK_TESTS_THRESHOLD:.2f}")
    for s in strengths:
        warning = weak_tests(s)
        if warning:
            console.print(f"  {s.task_id}: {warning}")


@app.command("sample")
def sample(
    tasks: TaskSpec,
    model: Annotated[str, typer.Option("--model", help="Base model: local directory or hub id "
                                       "(for --backend openai: the served model name).")],
    out: Annotated[Path, typer.Option("--out", help="Samples JSONL to write.")],
    adapter: Annotated[Optional[str], typer.Option(
        "--adapter", help="LoRA adapter directory (openai: the served adapter's name).")] = None,
    n: Annotated[int, typer.Option("--n", help="Samples per task.")] = 8,
    backend: Annotated[str, typer.Option(help="Generator backend: vllm, openai, hf.")] = "vllm",
    base_url: Annotated[str, typer.Option(help="Server root for --backend openai.")] = "http://127.0.0.1:8000",
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = 0.8,
    top_p: Annotated[float, typer.Option(help="Nucleus mass.")] = 0.95,
    max_tokens: Annotated[int, typer.Option(help="Completion length limit.")] = 512,
    seed: Annotated[int, typer.Option(help="Base seed (task j uses seed + j).")] = 0,
    chat: Annotated[Optional[bool], typer.Option(
        "--chat/--no-chat", help="Chat template or plain continuation (default: chat iff the "
                                 "tokenizer has a template; openai: plain).")] = None,
    round_: Annotated[int, typer.Option("--round", help="Round number recorded in samples.")] = 0,
    policy: Annotated[str, typer.Option(help="Policy name recorded in samples.")] = "",
    max_model_len: Annotated[Optional[int], typer.Option(
        help="vllm: context length (default: the model's own, from its config.json and "
             "tokenizer_config.json).")] = None,
) -> None:
    """Sample N solutions per task; one Sample line per solution (input of exec and judge)."""
    from rich.console import Console
    from rich.progress import Progress

    from codealign.generator import SamplingConfig, make_generator, sample_tasks
    from codealign.jsonl import write_jsonl
    from codealign.tasks import load_tasks

    config = SamplingConfig(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                            seed=seed, chat=chat)
    task_list = load_tasks(tasks)
    options = {"vllm": {"max_model_len": max_model_len} if max_model_len else {},
               "openai": {"base_url": base_url},
               "hf": {}}.get(backend, {})
    generator = make_generator(backend, model, **options)
    try:
        with Progress(console=Console(stderr=True), transient=True) as bar:
            job = bar.add_task(f"sampling {n} x {len(task_list)} tasks", total=len(task_list))
            samples = sample_tasks(task_list, generator, config, round=round_,
                                   policy=policy or (adapter or model), adapter=adapter,
                                   batch_size=32, progress=lambda k: bar.advance(job, k))
    finally:
        generator.close()
    write_jsonl(out, (s.to_dict() for s in samples))
    cut = sum(s.finish_reason == "length" for s in samples)
    Console(stderr=True, soft_wrap=True).print(f"{len(samples)} samples for {len(task_list)} tasks "
                               f"({cut} cut by max_tokens, "
                               f"{sum(s.tokens for s in samples)} tokens) -> {out}")


@app.command("exec")
def exec_(
    tasks: TaskSpec,
    samples: SamplesFile,
    out: Annotated[Path, typer.Option("--out", help="Executions JSONL to write.")],
    backend: SandboxBackend = "bwrap",
    workers: SandboxWorkers = 0,
    profile: Annotated[bool, typer.Option(help="Also measure passing samples on the perf inputs.")] = False,
) -> None:
    """Run samples against their tasks' tests in the sandbox; one Execution line per sample.

    Exits 0 whenever the inputs were valid, whatever the verdicts.
    """
    from collections import Counter

    from rich.console import Console

    from codealign.generator.sample import read_sample_lines
    from codealign.jsonl import write_jsonl
    from codealign.sandbox import Job, SandboxConfig, run_many
    from codealign.tasks import load_tasks

    config = SandboxConfig(backend=backend, workers=workers)
    task_list = load_tasks(tasks)
    by_id = {t.task_id: t for t in task_list}
    sample_list = read_sample_lines(str(samples), task_list)
    jobs = [Job(s.sample_id, by_id[s.task_id], s.code, profile=profile) for s in sample_list]
    executions = run_many(jobs, config, progress=True)
    write_jsonl(out, (e.to_dict() for e in executions))
    counts = Counter(e.status.value for e in executions)
    Console(stderr=True, soft_wrap=True).print(f"{len(executions)} executions ({config.backend}): "
                               + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" -> {out}")


@app.command("judge")
def judge(
    tasks: TaskSpec,
    samples: SamplesFile,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    backend: SandboxBackend = "bwrap",
    workers: SandboxWorkers = 0,
) -> None:
    """Run samples in the sandbox, judge them, and write verdicts.jsonl, pairs.jsonl, summary.json."""
    from rich.console import Console

    from codealign.generator.sample import read_sample_lines
    from codealign.jsonl import write_json, write_jsonl
    from codealign.judges import judge_samples
    from codealign.sandbox import SandboxConfig
    from codealign.tasks import load_tasks

    task_list = load_tasks(tasks)
    sample_list = read_sample_lines(str(samples), task_list)
    verdicts, pairs, summary = judge_samples(
        task_list, sample_list, SandboxConfig(backend=backend, workers=workers), progress=True)
    write_jsonl(out / "verdicts.jsonl", (v.to_dict() for v in verdicts))
    write_jsonl(out / "pairs.jsonl", (p.to_dict() for p in pairs))
    write_json(out / "summary.json", summary)  # written last: the "done" mark
    Console().print(f"{summary['samples']} samples, {summary['passed_honestly']} passed honestly, "
                    f"{summary['tampered']} tampered; {summary['pairs']} pairs "
                    f"{summary['pairs_by_reason']} -> {out}")


RunDir = Annotated[Optional[Path], typer.Option("--run-dir", help="Parent of the run directories "
                                                 "(default: the config's run_dir, else ./runs).")]
RunArg = Annotated[str, typer.Argument(help="A run directory, or a run name under --run-dir.")]


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _report_end(console, state) -> None:
    """The rounds' one-line summaries and the final status; exits with `RunStatus.exit_status`."""
    from codealign.runs import RunReader

    for r in RunReader(state.path).rounds():
        console.print(f"round {r.round}: {r.status.value:9} pass@1 "
                      f"{_figure(r.metrics.pass_at_1 if r.metrics else None)}"
                      + (f"  {r.reason}" if r.reason else ""))
    console.print(f"rounds: {state.path / 'rounds.jsonl'}")
    if state.status.value != "succeeded":
        console.print(f"run {state.status.value}" + (f": {state.error}" if state.error else ""))
    raise typer.Exit(state.status.exit_status)


def _execute(run_path: Path, rounds: int | None) -> None:
    from rich.console import Console

    from codealign.runs import execute_run
    from codealign.runs.console import ConsoleReporter

    console = Console(stderr=True, soft_wrap=True)
    reporter = ConsoleReporter(lambda line: console.print(f"[bold]loop[/bold] {line}"), bars=True)
    _report_end(console, execute_run(run_path, rounds=rounds, subscribers=[reporter]))


@app.command("loop")
def loop(
    config: Annotated[Path, typer.Option("--config", help="Run recipe (YAML), e.g. configs/demo.yaml.")],
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Rounds to run (default: the config's).")] = None,
    run_dir: RunDir = None,
    parent_run: Annotated[Optional[str], typer.Option(
        "--parent-run", help="Start from this run's last promoted policy (directory or name).")] = None,
) -> None:
    """Create (or reopen) a run and execute its rounds: sample, execute, judge, train, evaluate, gate.

    Exit status: 0 succeeded, 1 failed, 2 bad input, 3 the run is busy, 4 canceled
    (`codealign.errors.ExitStatus`).
    """
    from codealign.config import load_config
    from codealign.runs import create_run

    run = load_config(config, {"run_dir": str(run_dir) if run_dir is not None else None,
                               "parent_run": parent_run})           # every check before any work
    if rounds is not None and rounds < 1:
        raise typer.BadParameter(f"must be a positive integer, got {rounds}", param_hint="--rounds")
    _execute(create_run(run), rounds)


runs_app = typer.Typer(no_args_is_help=True, help="List, show, cancel and resume runs.")
app.add_typer(runs_app, name="runs")


def _run_path(run: str, run_dir: Path | None) -> Path:
    path = Path(run)
    if run_dir is not None and not (path / "state.json").exists():
        path = run_dir / run
    elif not (path / "state.json").exists():
        path = Path("runs") / run
    if not (path / "state.json").exists():
        raise CodealignError(f"no run {run!r} (looked for state.json in {path})")
    return path


@runs_app.command("list")
def runs_list(run_dir: Annotated[Path, typer.Option("--run-dir", help="Where the runs are.")] = Path("runs")) -> None:
    """Every run under --run-dir with its status, round and stage."""
    from rich.console import Console
    from rich.table import Table

    from codealign.runs import list_runs

    table = Table(title=f"runs in {run_dir}")
    for column in ("name", "status", "round", "stage", "started", "finished", "resumed", "parent"):
        table.add_column(column, overflow="fold")
    for s in list_runs(run_dir):
        table.add_row(s.name, s.status.value, "" if s.round is None else str(s.round), s.stage or "",
                      s.started_at or "", s.finished_at or "", str(s.resumed), s.parent_run or "")
    Console().print(table)


@runs_app.command("show")
def runs_show(run: RunArg, run_dir: RunDir = None) -> None:
    """A run's state and its rounds (status, gate decision, held-out figures)."""
    from rich.console import Console
    from rich.table import Table

    from codealign.records import format_cost
    from codealign.runs import RunReader

    reader = RunReader(_run_path(run, run_dir))
    state, console = reader.state(), Console()
    console.print(f"{reader.path}: [bold]{state.status.value}[/bold]"
                  + (f" (round {state.round}, {state.stage})" if state.round is not None else "")
                  + (f"  error: {state.error}" if state.error else "")
                  + (f"  parent: {state.parent_run}" if state.parent_run else "")
                  + f"  resumed {state.resumed}x")
    table = Table()
    for column in ("round", "status", "from", "pass@1", "secure rate", "mean cost", "pairs", "reason"):
        table.add_column(column, overflow="fold")
    for r in reader.rounds():
        m = r.metrics
        table.add_row(str(r.round), r.status.value, r.started_from or r.policy,
                      _figure(m.pass_at_1 if m else None), _figure(m.secure_rate if m else None),
                      "n/a" if m is None or m.mean_cost is None else format_cost(m.mean_cost, m.cost_unit),
                      "" if r.pairs is None else str(r.pairs), r.reason)
    console.print(table)


@runs_app.command("cancel")
def runs_cancel(run: RunArg, run_dir: RunDir = None) -> None:
    """Ask a run to stop (a running one stops within seconds; a queued one is canceled now)."""
    from codealign.runs import read_state, request_cancel

    path = _run_path(run, run_dir)
    request_cancel(path)
    typer.echo(f"{path}: cancel requested (status now {read_state(path).status.value})")


@runs_app.command("resume")
def runs_resume(
    run: RunArg,
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Rounds to reach (default: the config's).")] = None,
    run_dir: RunDir = None,
) -> None:
    """Resume (or start) a run from its first unfinished stage. Exit status as for `loop`."""
    _execute(_run_path(run, run_dir), rounds)


@runs_app.command("rejudge")
def runs_rejudge(
    run: RunArg,
    round_no: Annotated[Optional[int], typer.Option("--round", help="The round (default: every judged round).")] = None,
    run_dir: RunDir = None,
) -> None:
    """Judge a finished round again with today's code: run its samples in the sandbox again
    (strengthened tests included), judge them, and print the pairs lost, gained and flipped,
    with why. Writes round-K/rejudge-<stamp>/ beside the round; the round is not touched."""
    from rich.console import Console
    from rich.markup import escape

    from codealign.records.rejudge import ChangeKind
    from codealign.runs.console import ConsoleReporter
    from codealign.runs.rejudge import judged_rounds, rejudge_round

    path = _run_path(run, run_dir)
    rounds = judged_rounds(path) if round_no is None else [round_no]
    if not rounds:
        raise CodealignError(f"{path} has no judged round yet")
    console, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    reporter = ConsoleReporter(lambda line: err.print(f"[bold]rejudge[/bold] {escape(line)}"), bars=True)
    for k in rounds:
        report = rejudge_round(path, k, subscribers=[reporter])
        before = "unknown (made before pairs recorded provenance)" if report.before is None else \
            f"codealign {report.before.codealign}, judges {report.before.code_hash}"
        console.print(f"round {k}: {report.pairs_before} pairs before, {report.pairs_after} after: kept "
                      f"{report.kept}, lost {report.count(ChangeKind.LOST)}, gained "
                      f"{report.count(ChangeKind.GAINED)}, flipped {report.count(ChangeKind.FLIPPED)}, "
                      f"reason changed {report.count(ChangeKind.REASON)}")
        console.print(f"  judged by {before}; now codealign {report.after.codealign}, judges "
                      f"{report.after.code_hash} (bandit {report.after.bandit}, radon {report.after.radon})")
        for c in report.changes:
            console.print(escape(f"  {c.kind.value:14} {c.task_id} {c.reason}: {c.chosen_id} over {c.rejected_id}"))
            for why in c.why:
                console.print(escape(f"      because {why}"))
        console.print(f"  {len(report.verdicts_changed)} of {report.samples} samples judged differently; "
                      f"written to {escape(str(path / report.directory))}")


@app.command("train")
def train(
    model: Annotated[str, typer.Option("--model", help="Base model (local path or hub id).")],
    pairs: Annotated[Path, typer.Option("--pairs", help="TRL pairs JSONL (codealign judge's pairs.jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (adapter/, metrics.jsonl, train.json).")],
    dpo: Annotated[Optional[Path], typer.Option("--dpo", help="YAML/JSON mapping of DPO settings "
                                                "(the fields of a recipe's dpo section).")] = None,
    previous_adapter: Annotated[Optional[Path], typer.Option(
        "--previous-adapter", help="The adapter to continue training (the last promoted round).")] = None,
    initial_adapter: Annotated[Optional[Path], typer.Option(
        "--initial-adapter", help="The run's first policy (reference: initial; default: the base).")] = None,
    chat: Annotated[Optional[bool], typer.Option("--chat/--no-chat", help="Pairs in chat form "
                                                 "(default: iff the tokenizer has a template).")] = None,
) -> None:
    """Train one DPO round. Multi-GPU: `accelerate launch --config_file configs/accelerate/ddp.yaml
    -m codealign train ...` (only the main process writes)."""
    import yaml

    from codealign.config import build_section
    from codealign.trainer.dpo import TrainConfig, train_round

    settings = {}
    if dpo is not None:
        try:
            settings = yaml.safe_load(dpo.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise CodealignError(f"{dpo}: cannot read DPO settings: {exc}") from None
    config = build_section(TrainConfig, settings, "dpo", str(dpo or "<defaults>"))
    result = train_round(model, pairs, out, config, previous_adapter=previous_adapter, chat=chat,
                         initial_adapter=initial_adapter)
    if result is not None:
        typer.echo(f"{result.steps} steps on {result.pairs} pairs ({result.device}) -> {result.adapter_dir}")


@app.command("nightly")
def nightly(
    config: Annotated[Optional[Path], typer.Option(
        "--config", envvar="CODEALIGN_NIGHTLY_CONFIG",
        help="Run recipe (YAML); its name is the lineage whose next night this runs.")] = None,
    run_dir: Annotated[Optional[Path], typer.Option(
        "--run-dir", envvar="CODEALIGN_RUNS_DIR", help="Parent of the night runs (default: the config's run_dir).")] = None,
    database_url: Annotated[Optional[str], typer.Option(
        "--database-url", envvar="CODEALIGN_DATABASE_URL",
        help="The service's database: its active API-submitted tasks join the night, and with "
             "PostgreSQL the run lock is an advisory lock there.")] = None,
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Rounds per night (default: the config's).")] = None,
    slot: Annotated[Optional[str], typer.Option(
        "--slot", hidden=True, help="The scheduled time (ISO 8601) this night is for; a night "
                                    "recorded for it already makes this a skip.")] = None,
    overrides: Annotated[Optional[str], typer.Option(
        "--overrides", hidden=True, help="Top-level recipe overrides as a JSON object.")] = None,
    review_per_reason: Annotated[int, typer.Option(
        "--review-per-reason", envvar="CODEALIGN_REVIEW_PER_REASON", min=0,
        help="With --database-url: pairs of each reason drawn from each round into the review queue.")] = 2,
) -> None:
    """Run the lineage's next night once (for cron, a systemd timer or a Kubernetes CronJob).

    Resumes the previous night instead when it was interrupted. With --database-url, the pairs
    the service's reviewers excluded are left out of its training sets, and its rounds' pairs
    are drawn into the review queue.

    Exit status (`codealign.errors.ExitStatus`): 0 started (or nothing new, recorded), 5 resumed,
    3 skipped (lock held), 1 failed, 4 canceled, 2 bad input, 70 an unexpected error.
    """
    import json
    from datetime import datetime

    from rich.console import Console

    from codealign.config import load_config
    from codealign.errors import ConfigError
    from codealign.runs.nightly import NightOutcome, run_night

    console = Console(stderr=True, soft_wrap=True)
    if config is None:
        raise ConfigError("give --config FILE (or set CODEALIGN_NIGHTLY_CONFIG)", field="config")
    try:
        extra = json.loads(overrides) if overrides else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}", field="overrides") from None
    if not isinstance(extra, dict):
        raise ConfigError("must be a JSON object", field="overrides")
    if run_dir is not None:
        extra["run_dir"] = str(run_dir)
    try:
        when = datetime.fromisoformat(slot) if slot else None
    except ValueError:
        raise ConfigError(f"not an ISO 8601 time: {slot!r}", field="slot") from None
    run = load_config(config, extra)         # every check before any work
    from codealign.runs import RunBusy
    from codealign.runs.lock import RunLock, RunLockHeld

    submitted, keep_out, excluded = [], {}, None
    if database_url:
        from codealign.service.scheduler import active_tasks, excluded_pairs, index_night

        store = active_tasks(database_url)
        submitted, keep_out, excluded = store.tasks, store.keep_out, excluded_pairs(database_url)
    try:
        with RunLock(run.run_dir, database_url, run=f"{run.name} (nightly)"):
            result = run_night(run, extra_tasks=submitted, slot=when, rounds=rounds,
                               trigger="schedule" if slot else "cli", keep_out=keep_out,
                               excluded_pairs=excluded)
    except (RunLockHeld, RunBusy) as exc:
        console.print(f"nightly: skipped: {exc}")
        raise typer.Exit(NightOutcome.SKIPPED.exit_code)
    if database_url and result.run_path is not None:
        index_night(database_url, result.run_path, run.name, review_per_reason)
    where = f" ({result.run_path})" if result.run_path else ""
    console.print(f"nightly: {result.outcome.value}: night {result.night} {result.status or ''}"
                  f"{where} {result.message}".rstrip())
    raise typer.Exit(result.outcome.exit_code)


@app.command("demo")
def demo(
    config: Annotated[Path, typer.Option("--config", help="Run recipe (YAML).")] = Path("configs/demo.yaml"),
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Rounds (default: the config's).")] = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Parent of the run directory.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Run name (default: demo-<time>; "
                                                "an existing finished run is shown again).")] = None,
) -> None:
    """Build the tiny seed policy, run the loop's rounds on the task bank, print the deltas."""
    import time

    started = time.perf_counter()
    from codealign.demo import main_entry

    main_entry(config, rounds, run_dir, name, started)


keys_app = typer.Typer(no_args_is_help=True, help="API keys of the service.")
app.add_typer(keys_app, name="keys")
ServiceHome = Annotated[Optional[Path], typer.Option(
    "--home", help="Service home (default $CODEALIGN_HOME or ~/.codealign): its database and runs.")]


def _service_settings(home: Optional[Path], **fields):
    from pydantic import ValidationError

    from codealign.errors import ConfigError
    from codealign.service.settings import Settings

    if home is not None:
        fields["home"] = home
    try:
        return Settings(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(first["msg"], field=".".join(str(p) for p in first["loc"]) or None) from None


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless keys exist).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    home: ServiceHome = None,
    allow_unsafe_no_isolation: Annotated[bool, typer.Option(
        "--allow-unsafe-no-isolation",
        help="Let recipes (and CODEALIGN_SANDBOX_BACKEND) use the unsafe-no-isolation sandbox, "
             "which runs candidate code and submitted tests on this host without isolation. "
             "For a trusted debugging box only; logged at start. Never selectable by the API.")] = False,
) -> None:
    """Run the service: the API, task validation and run workers, in one process."""
    import uvicorn

    from codealign.errors import ConfigError
    from codealign.service.app import create_app
    from codealign.service.settings import is_loopback
    from codealign.service.store import Database, upgrade
    from codealign.service.store.keys import any_keys

    fields = {"host": host, "port": port}
    if allow_unsafe_no_isolation:
        fields["allow_unsafe_no_isolation"] = True
    settings = _service_settings(home, **fields)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            keyed = any_keys(session)
    finally:
        db.close()
    if not is_loopback(host) and not keyed:
        raise ConfigError(f"refusing to bind {host}: the API would be open to the network with no "
                          "API key configured; create one first (codealign keys create --scope admin"
                          f"{' --home ' + str(home) if home else ''}) or bind 127.0.0.1", field="host")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5)


def _keys_db(home: Optional[Path]):
    from codealign.service.store import Database, upgrade

    settings = _service_settings(home)
    upgrade(settings.database_url)
    return Database(settings.database_url)


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="read, write or admin (each includes the ones before).")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    home: ServiceHome = None,
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    from codealign.errors import ConfigError
    from codealign.service.store.keys import create_key
    from codealign.service.store.models import Scope

    try:
        chosen = Scope(scope)
    except ValueError:
        raise ConfigError(f"must be read, write or admin, got {scope!r}", field="scope") from None
    db = _keys_db(home)
    try:
        with db.session() as session:
            key = create_key(session, chosen, name)
    finally:
        db.close()
    typer.echo(key)
    typer.secho(f"({chosen.value} key; shown once, store it now)", err=True, fg=typer.colors.YELLOW)


@keys_app.command("list")
def keys_list(home: ServiceHome = None) -> None:
    """Every key: id, scope, name, created, last used, revoked (never a secret)."""
    from rich.console import Console
    from rich.table import Table

    from codealign.service.store.keys import list_keys

    db = _keys_db(home)
    try:
        with db.session() as session:
            rows = list_keys(session)
    finally:
        db.close()
    table = Table("id", "scope", "name", "created", "last used", "revoked")
    when = lambda t: t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"      # noqa: E731
    for row in rows:
        table.add_row(row.prefix, row.scope, row.name, when(row.created_at), when(row.last_used_at),
                      when(row.revoked_at))
    Console(width=200).print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (`keys list`; the 12 hex digits after ca_).")],
    home: ServiceHome = None,
) -> None:
    """Revoke a key: a running service refuses it within CODEALIGN_KEY_CACHE_TTL_S (2 s)."""
    from codealign.errors import ConfigError
    from codealign.service.store.keys import revoke_key

    db = _keys_db(home)
    try:
        with db.session() as session:
            row = revoke_key(session, key_id)
    finally:
        db.close()
    if row is None:
        raise ConfigError(f"no key with id {key_id!r} (codealign keys list shows them)", field="key_id")
    typer.echo(f"revoked {row.prefix} ({row.scope}{', ' + row.name if row.name else ''})")


@tasks_app.command("submit")
def tasks_submit(
    spec: TaskSpec,
    server: Annotated[str, typer.Option("--server", help="Service URL, e.g. http://127.0.0.1:8000.")],
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="CODEALIGN_API_KEY",
                                                   help="Bearer key (default $CODEALIGN_API_KEY).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until every task is validated.")] = True,
) -> None:
    """Submit a task file to the service (100 per request) and summarize what became of each."""
    from collections import Counter

    from rich.console import Console
    from rich.progress import Progress

    from codealign.client import Client, task_payload
    from codealign.tasks import load_tasks

    console = Console(stderr=True)
    tasks = load_tasks(spec)
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    ids: list[str] = []
    with Client(server, api_key) as client, Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"submitting {len(tasks)} tasks", total=len(tasks))
        for start in range(0, len(tasks), 100):
            chunk = tasks[start:start + 100]
            payloads = [task_payload(t) for t in chunk if t.reference is not None]
            skipped = [t for t in chunk if t.reference is None]
            for t in skipped:
                outcomes["error"] += 1
                problems.append(f"{t.task_id}: no reference solution (the service validates with it)")
            results = client.submit_batch(payloads) if payloads else []
            for payload, item in zip(payloads, results):
                outcomes[item["outcome"]] += 1
                if item["outcome"] == "error":
                    problems.append(f"{payload['task_id']}: {item['detail']}")
                else:
                    ids.append(item["task"]["task_id"])
            bar.advance(job, len(chunk))
        statuses: Counter[str] = Counter()
        if wait:
            vjob = bar.add_task("validating", total=len(ids))
            for task_id in ids:
                task = client.wait_task(task_id, timeout=600)
                statuses[task["status"]] += 1
                if task["status"] == "rejected":
                    problems.append(f"{task_id}: rejected: {task['reason']}")
                for warning in task.get("warnings") or []:       # weak tests, near duplicates
                    statuses["warnings"] += 1
                    problems.append(f"{task_id}: warning: {warning['detail']}")
                bar.advance(vjob)
    console.print(f"{len(tasks)} tasks: {outcomes['created']} new, {outcomes['existing']} already "
                  f"stored, {outcomes['error']} refused"
                  + (f"; {statuses['active']} active, {statuses['rejected']} rejected, "
                     f"{statuses['retired']} retired" if wait else ""))
    if statuses["warnings"]:
        console.print(f"{statuses['warnings']} warning(s) on accepted tasks (weak tests, near duplicates), listed below")
    for line in problems[:50]:
        console.print(f"  {line}")
    if outcomes["error"] or statuses["rejected"]:
        raise typer.Exit(ExitStatus.FAILED)


@app.command("report")
def report(
    run: Annotated[Path, typer.Argument(help="A run directory (e.g. runs/demo-20261127-142939).")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
) -> None:
    """Write the run's dashboard (overview, quality, flips, tasks, DPO health) as one HTML file."""
    from rich.console import Console

    from codealign.report import write_report

    path = write_report(run, out)
    Console(stderr=True, soft_wrap=True).print(f"report: {path} ({path.stat().st_size // 1024} KiB, self-contained)")


def error_log_dir() -> Path:
    """Where tracebacks of unexpected errors go: ``$CODEALIGN_HOME/logs``, else
    ``<system temp dir>/codealign-logs-<uid>``."""
    import os
    import tempfile

    home = os.environ.get("CODEALIGN_HOME")
    return (Path(home) / "logs" if home
            else Path(tempfile.gettempdir()) / f"codealign-logs-{os.getuid()}")


def _command_name(argv: list[str]) -> str:
    """The (sub)command an argument list runs, e.g. ``"tasks check"``."""
    from typer.core import TyperGroup

    names, command = [], typer.main.get_command(app)
    for word in argv:
        if not isinstance(command, TyperGroup) or word not in command.commands:
            break
        names.append(word)
        command = command.commands[word]
    return " ".join(["codealign", *names])


def _printable(text: str) -> str:
    """`text` as it can go to any terminal: what UTF-8 cannot encode is escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _log_traceback(exc: BaseException) -> str:
    """Write the command line and `exc`'s traceback to a new log file; return its path, or
    why it could not be written."""
    import datetime
    import os
    import sys
    import traceback

    stamp = datetime.datetime.now(datetime.timezone.utc)
    text = (f"{stamp.isoformat()}  codealign {' '.join(sys.argv[1:])}\n"
            f"python {sys.version.split()[0]}, pid {os.getpid()}\n\n"
            + "".join(traceback.format_exception(exc)) + "\n")
    path = error_log_dir() / f"error-{stamp:%Y%m%dT%H%M%S}-{os.getpid()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(_printable(text), encoding="utf-8")
    except OSError as err:
        return f"no log written: {err}"
    return str(path)


def main() -> None:
    """Entry point: every failure ends in one line on stderr and a non-zero status.

    A busy run (another process holds its lease: `RunBusy`) exits `ExitStatus.BUSY`. Our own
    errors (`CodealignError`: bad input, unusable model or sandbox) print their message and exit
    `ExitStatus.BAD_INPUT`. Anything else is a fault of codealign or of the machine: one line
    names the command, the exception and a log file holding the traceback (`error_log_dir`),
    and the exit status is `ExitStatus.INTERNAL`. Never a bare traceback.
    """
    import sys

    from codealign.errors import RunBusy

    try:
        app()
    except RunBusy as exc:
        typer.secho(_printable(f"busy: {exc}"), err=True, fg=typer.colors.RED)
        raise SystemExit(ExitStatus.BUSY)
    except CodealignError as exc:
        typer.secho(_printable(f"error: {exc}"), err=True, fg=typer.colors.RED)
        raise SystemExit(ExitStatus.BAD_INPUT)
    except Exception as exc:  # the one place every unexpected error ends
        message = " ".join(str(exc).split())[:300]
        typer.secho(_printable(f"error: {_command_name(sys.argv[1:])} failed unexpectedly: "
                               f"{type(exc).__name__}: {message} (traceback: "
                               f"{_log_traceback(exc)})"), err=True, fg=typer.colors.RED)
        raise SystemExit(ExitStatus.INTERNAL)


if __name__ == "__main__":
    main()
