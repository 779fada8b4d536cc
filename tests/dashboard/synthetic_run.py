"""A run directory in the loop's layout with made-up figures, of any size (no model, no sandbox).

For the dashboard's tests (many tasks and rounds, so that sorting, filters and flips have
something to show) and its render benchmark (60 rounds × 500 tasks). Every file a real run
has is written in the real record shapes: the task snapshot, split, per-round samples (as
many per task as the real `codealign.runs.allocation.allocate` gives from the round before),
executions, verdicts, pairs, the training set (the round's pairs and half as many of the
round before, one of which a re-check dropped), DPO metrics, the evaluation report (made by
the real `codealign.trainer.evaluate.evaluate`), the gate's decision (the real
`codealign.trainer.gate.decide`, with per-tag deltas over the tasks' two tags), stage
manifests, and `rounds.jsonl` / `timings.json` rebuilt from the manifests by the loop's own
`write_rounds`. The gate promotes a round whose held-out pass@1 beats the incumbent's (the
point rule, so that a small run promotes some rounds). Every other failing sample fails by
disagreeing with the reference on a strengthened input (`DISAGREEMENT`), as differential
testing reports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import zlib
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from codealign.judges.complexity import judge_complexity
from codealign.judges.pairs import pair_id
from codealign.judges.verdict import Verdict
from codealign.jsonl import write_json, write_jsonl
from codealign.records import Failure
from codealign.records.provenance import (JudgeSource, PairProvenance, PolicySource, RawScores, SamplingSource,
                                          SandboxSource, TaskSource)
from codealign.runs.allocation import AllocationConfig, allocate, task_history
from codealign.runs.rounds import write_rounds
from codealign.trainer.evaluate import Outcome, evaluate, split_tasks
from codealign.trainer.gate import GateConfig, count_outcomes, decide

REASONS = ("correctness", "efficiency", "security", "maintainability")
CODES = ("    return a + b\n", "    return a - b\n", "    return eval(str(a) + '+' + str(b))\n",
         "    total = 0\n    for x in (a, b):\n        total += x\n    return total\n")


def _manifest(stage_dir: Path, stage: str, k: int, inputs: dict, outputs: dict, result: dict, seconds: float):
    write_json(stage_dir / "manifest.json", {
        "stage": stage, "round": k, "inputs_hash": hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest(),
        "inputs": inputs, "outputs": outputs,
        "output_hashes": {name: hashlib.sha256(name.encode()).hexdigest() for name in outputs},
        "result": result, "seconds": seconds})


DISAGREEMENT = "on input (1, -1) the reference returned 0, this returned 2"


def _outcomes(sid: str, passed: bool) -> tuple[list[dict], str]:
    """A failing sample's test outcomes (without drawing from the run's random numbers): every
    other one passes the task's test and disagrees with the reference on a strengthened input
    (differential testing's ``diff[i]``), the others fail the task's test."""
    if passed:
        return [{"name": "call[0]", "passed": True, "detail": ""}], ""
    if zlib.crc32(sid.encode()) % 2:
        return [{"name": "call[0]", "passed": True, "detail": ""},
                {"name": "diff[0]", "passed": False, "detail": DISAGREEMENT}], DISAGREEMENT
    return [{"name": "call[0]", "passed": False, "detail": "expected 3, got -1"}], "expected 3, got -1"


def _sample(task_id: str, sid: str, k: int, policy: str, rng: random.Random, p: float):
    passed = rng.random() < p
    code_i = rng.choice((0, 2, 3)) if passed else 1
    completion = CODES[code_i]
    tokens = 6 + 4 * code_i + rng.randrange(4)
    sample = {"task_id": task_id, "sample_id": sid, "code": f"def {task_id.replace('/', '_')}(a, b):\n" + completion,
              "completion": completion, "round": k, "policy": policy, "tokens": tokens, "finish_reason": "stop"}
    ops = 2 + code_i * 3 + rng.randrange(3)
    outcomes, detail = _outcomes(sid, passed)
    execution = {"sample_id": sid, "task_id": task_id, "status": "passed" if passed else "failed",
                 "tests_passed": 2 if passed else rng.randrange(2), "tests_total": 2, "outcomes": outcomes,
                 "cost": {"cpu_s": 0.001, "peak_kb": 12000, "wall_s": 0.005, "ops": ops if passed else None,
                          "perf_cpu_s": 1e-5 if passed else None},
                 "stdout": "", "stderr": "", "detail": detail, "flags": [], "backend": "bwrap"}
    insecure = passed and code_i == 2
    return sample, execution, insecure


@lru_cache(maxsize=None)
def _maintainability(code: str) -> dict:
    """The maintainability judge's record, as the judge stage writes it."""
    return judge_complexity(code).to_dict()


def _verdict(sample: dict, execution: dict, insecure: bool, rank: int, n: int) -> dict:
    return {"sample_id": sample["sample_id"], "task_id": sample["task_id"], "rank": rank,
            "explanation": f"rank {rank}/{n}: {execution['status']} {execution['tests_passed']}/2 tests",
            "scores": {
                "maintainability": _maintainability(sample["code"]),
                "security": {"name": "security", "value": 3.0 if insecure else 0.0, "status": "ok",
                             "details": {"risk": 3.0 if insecure else 0.0, "findings": [
                                 {"test_id": "B307", "severity": "MEDIUM"}] if insecure else [],
                                 "high": 0, "medium": int(insecure), "low": 0}},
                "tamper": {"name": "tamper", "value": 0.0, "status": "ok", "details": {"tampered": False, "reasons": []}},
                "efficiency": {"name": "efficiency", "value": 1.0, "status": "ok", "details": {}}},
            "execution": execution, "code": sample["code"]}


def _pair_side(sample: dict, execution: dict, rank: int, explanation: str) -> dict:
    """A pair's summary of one side, with the keys `codealign.judges.pairs.Pair.to_dict` writes."""
    cost = execution["cost"]
    return {"sample_id": sample["sample_id"], "status": execution["status"],
            "tests_passed": execution["tests_passed"], "tests_total": execution["tests_total"], "rank": rank,
            "tampered": False, "efficiency": 1.0, "ops": cost["ops"], "perf_cpu_s": cost["perf_cpu_s"],
            "security": 0.0, "maintainability": None, "explanation": explanation}


def _raw(sample: dict, execution: dict, insecure: bool) -> RawScores:
    passed = execution["status"] == "passed"
    return RawScores(sample_id=sample["sample_id"], status=execution["status"], tests_passed=execution["tests_passed"],
                     tests_total=execution["tests_total"], detail=execution["detail"], tampered=False, tamper_reasons=[],
                     secure=not insecure, bandit_risk=3.0 if insecure else 0.0,
                     bandit_findings=["B307:MEDIUM"] if insecure else [],
                     cost_s=execution["cost"]["perf_cpu_s"] if passed else None, cost_lower_bound=False if passed else None,
                     ops=execution["cost"]["ops"], perf_cpu_s=execution["cost"]["perf_cpu_s"],
                     mi=_maintainability(sample["code"])["value"], cc_max=1, judge_errors=[])


def _provenance(policy: str, k: int, task_id: str, chosen: tuple, rejected: tuple) -> dict:
    """A pair's provenance in the real record's shape (`codealign.records.provenance`)."""
    digest = hashlib.sha256(task_id.encode()).hexdigest()[:16]
    return PairProvenance(
        policy=PolicySource(name=policy, model="synthetic", model_revision=None,
                            adapter_hash=None if policy == "base" else hashlib.sha256(policy.encode()).hexdigest()),
        sampling=SamplingSource(backend="vllm", n=4, temperature=0.8, top_p=0.95, max_tokens=128, stop=[], chat=False,
                                seed=100_003 * k),
        sandbox=SandboxSource(backend="bwrap", executor="local", python="/usr/bin/python3", image=None, image_digest=None,
                              bwrap_version="bubblewrap 0.8.0", config_hash="0" * 16),
        task=TaskSource(tests_hash=digest, reference_hash=None, inputs_hash=None),
        judges=JudgeSource(codealign="0.1.0", bandit="1.9.4", radon="6.0.1", code_hash="0" * 16, config_hash="0" * 16),
        chosen=_raw(*chosen), rejected=_raw(*rejected)).to_dict()


def synthesize_run(path: str | Path, *, rounds: int = 6, tasks: int = 40, train_samples: int = 4,
                   eval_samples: int = 4, steps: int = 8, seed: int = 0) -> Path:
    """Write a finished run of `rounds` rounds over `tasks` tasks at `path`; return `path`."""
    run = Path(path)
    run.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ids = [f"syn/t{i:04d}" for i in range(tasks)]
    train, heldout = split_tasks(ids, 0.25, 0)
    write_json(run / "split.json", {"rule": "synthetic", "fraction": 0.25, "seed": 0, "train": train, "heldout": heldout})
    write_json(run / "config.json", {"name": run.name, "model": "synthetic", "rounds": rounds,
                                     "evaluation": {"n_samples": eval_samples, "k": [1, 2, 4]}})
    difficulty = {t: rng.random() for t in ids}
    tags = {t: [f"level:{'hard' if difficulty[t] > 0.5 else 'easy'}", f"group:{i % 3}"] for i, t in enumerate(ids)}
    write_jsonl(run / "tasks.jsonl", ({"task_id": t, "prompt": f"def {t.replace('/', '_')}(a, b):\n    \"\"\"Sum.\"\"\"",
                                      "entry_point": t.replace("/", "_"), "prompt_style": "code",
                                      "tests": f"assert {t.replace('/', '_')}(1, 2) == 3\n", "tags": tags[t]}
                                     for t in ids))
    outcomes_of: dict[int, dict] = {}
    quality = {0: 0.45}
    incumbent, incumbent_pass1 = 0, None
    history: dict = {}
    previous_pairs: list[dict] = []
    for k in range(rounds + 1):
        q = quality[k] = quality[incumbent] + (rng.uniform(-0.08, 0.1) if k else 0.0)
        policy = "base" if incumbent == 0 else f"round-{incumbent}"

        def p_of(t: str) -> float:
            return min(0.98, max(0.02, q + 0.5 - difficulty[t]))

        base = run / f"round-{k}"
        if k:
            samples, executions, verdicts, pairs = [], [], [], []
            allocation = allocate(train, history, AllocationConfig(), train_samples)
            for t in train:
                group = [_sample(t, f"{t}#r{k}#{i}", k, policy, rng, p_of(t)) for i in range(allocation.counts[t])]
                for rank, (s, e, insecure) in enumerate(group, 1):
                    samples.append(s), executions.append(e)
                    verdicts.append(_verdict(s, e, insecure, rank, len(group)))
                good = [g for g in group if g[1]["status"] == "passed" and not g[2]]
                bad = [g for g in group if g[1]["status"] != "passed" or g[2]]
                for (cs, ce, _), (rs, re_, ri) in zip(good, bad):
                    reason = "security" if ri else "correctness" if re_["status"] != "passed" else rng.choice(REASONS)
                    prompt = cs["code"].split("\n")[0]
                    pairs.append({"prompt": prompt, "chosen": cs["completion"], "rejected": rs["completion"],
                                  "pair_id": pair_id(prompt, cs["completion"], rs["completion"]),
                                  "task_id": t, "reason": reason, "margin": round(rng.uniform(0.1, 3.0), 3),
                                  "chosen_id": cs["sample_id"], "rejected_id": rs["sample_id"],
                                  "chosen_verdict": _pair_side(cs, ce, 1, "rank 1: passed 2/2 tests"),
                                  "rejected_verdict": _pair_side(rs, re_, train_samples,
                                                                 f"rank {train_samples}: {re_['status']}"),
                                  "provenance": _provenance(policy, k, t, (cs, ce, False), (rs, re_, ri))})
            for stage, name, rows in (("sample", "samples", samples), ("execute", "executions", executions),
                                      ("judge", "verdicts", verdicts)):
                write_jsonl(base / stage / f"{name}.jsonl", rows)
            write_jsonl(base / "execute" / "references.jsonl", [])
            write_jsonl(base / "judge" / "pairs.jsonl", pairs)
            write_json(base / "sample" / "allocation.json", allocation.to_dict())
            history = task_history(map(Verdict.from_dict, verdicts), k, 1.5)
            # the training set: the round's pairs, then half as many of the round before's, less
            # the first of those (a re-check dropped it)
            own_ids = {p["pair_id"] for p in pairs}
            earlier = [p for p in previous_pairs if p["pair_id"] not in own_ids][:len(pairs) // 2 + 1]
            replayed, dropped = earlier[1:], earlier[:1]
            training = ([p | {"origin": {"run": run.name, "round": k}, "replayed": False} for p in pairs]
                        + [p | {"origin": {"run": run.name, "round": k - 1}, "replayed": True} for p in replayed])
            write_jsonl(base / "train" / "pairs.jsonl", training)
            write_jsonl(base / "train" / "replay.jsonl", [
                {"pair_id": p["pair_id"], "task_id": p["task_id"], "reason": p["reason"],
                 "origin": {"run": run.name, "round": k - 1}, "kept": p not in dropped,
                 "fault": "chosen-fails" if p in dropped else None,
                 "detail": "now: chosen failed 1/2 tests; rejected failed 0/2 tests" if p in dropped else ""}
                for p in earlier])
            training_summary = {"new": len(pairs), "replayed": len(replayed), "share": 0.3,
                                "available": len(earlier), "checked": len(earlier),
                                "dropped_by_fault": {"chosen-fails": len(dropped)} if dropped else {},
                                "replayed_by_origin": {f"{run.name}/round-{k - 1}": len(replayed)} if replayed else {},
                                "excluded": 0}
            previous_pairs = pairs
            by_reason = {r: sum(p["reason"] == r for p in pairs) for r in REASONS}
            write_json(base / "judge" / "summary.json", {"samples": len(samples), "pairs": len(pairs), "pairs_by_reason": by_reason})
            logp_c, logp_r = -1.2, -1.25
            metrics = []
            for step in range(1, steps + 1):
                logp_c += rng.uniform(-0.03, 0.01)
                logp_r -= rng.uniform(0.02, 0.06)
                margin = (logp_c - logp_r) * 0.1 * step
                metrics.append({"step": step, "epoch": step / steps, "loss": 0.69 - 0.02 * step + rng.uniform(0, 0.01),
                                "rewards/chosen": margin / 2, "rewards/rejected": -margin / 2,
                                "rewards/accuracies": min(1.0, 0.5 + 0.06 * step), "rewards/margins": margin,
                                "logps/chosen": logp_c, "logps/rejected": logp_r,
                                "chosen_logp_change": logp_c + 1.2, "drift": 0.01 * step})
            write_jsonl(base / "train" / "metrics.jsonl", metrics)
            last = {key: round(v, 4) for key, v in metrics[-1].items() if key.startswith(("rewards/", "logps/", "loss"))
                    or key in ("chosen_logp_change", "drift")}
            _manifest(base / "sample", "sample", k, {"policy": {"name": policy, "adapter": None}},
                      {"samples": "samples.jsonl", "allocation": "allocation.json"},
                      {"samples": len(samples), "tasks": len(train), "tokens": sum(s["tokens"] for s in samples),
                       "allocation": allocation.summary().to_dict()}, 1.0)
            _manifest(base / "execute", "execute", k, {}, {"executions": "executions.jsonl", "references": "references.jsonl"},
                      {"executions": len(executions), "passed": sum(e["status"] == "passed" for e in executions)}, 2.0)
            _manifest(base / "judge", "judge", k, {}, {"verdicts": "verdicts.jsonl", "pairs": "pairs.jsonl", "summary": "summary.json"},
                      {"pairs": len(pairs), "pairs_by_reason": by_reason}, 0.5)
            _manifest(base / "train", "train", k, {},
                      {"metrics": "metrics.jsonl", "training_set": "pairs.jsonl", "replay": "replay.jsonl"},
                      {"steps": steps, "stopped_early": False, "stop_reason": "", "reference": "base",
                       "pairs": len(training), "train_tokens": 1000, "last": last,
                       "training_set": training_summary}, 3.0)
        ev_samples, ev_execs, outcomes, rows = [], [], [], []
        for t in heldout:
            ev_rng = random.Random(f"{seed}:{t}")          # the same draws for every policy, as the loop does
            for i in range(eval_samples):
                s, e, insecure = _sample(t, f"{t}#e{k}#{i}", k, "base" if k == 0 else f"round-{k}", ev_rng, p_of(t))
                ev_samples.append(s), ev_execs.append(e)
                passed = e["status"] == "passed"
                # a cost in seconds as `codealign.judges.efficiency.cost_s` gives (a few µs)
                outcomes.append(Outcome(t, passed, (not insecure) if passed else None,
                                        e["cost"]["ops"] * 1e-6 if passed else None, s["tokens"]))
                failure = Failure.of(e)
                rows.append({"task_id": t, "sample_id": s["sample_id"], "status": e["status"], "honest": passed,
                             "secure": outcomes[-1].secure, "cost": outcomes[-1].cost, "tokens": s["tokens"],
                             "failure": failure and failure.to_dict()})
        report = evaluate(outcomes, [1, 2, 4], task_ids=heldout)
        write_jsonl(base / "evaluate" / "samples.jsonl", ev_samples)
        write_jsonl(base / "evaluate" / "executions.jsonl", ev_execs)
        write_jsonl(base / "evaluate" / "outcomes.jsonl", rows)
        write_json(base / "evaluate" / "report.json", report.to_dict())
        _manifest(base / "evaluate", "evaluate", k, {}, {"samples": "samples.jsonl", "executions": "executions.jsonl",
                                                          "outcomes": "outcomes.jsonl", "report": "report.json"},
                  report.headline(), 1.5)
        outcomes_of[k] = count_outcomes(rows)
        if k:
            # the gate's own record with its per-tag deltas; promoted when pass@1 beats the
            # incumbent's (the point rule: so that a small run promotes some rounds)
            promoted = report.pass_at_1 > incumbent_pass1
            gated = decide(outcomes_of[k], outcomes_of[incumbent], GateConfig(objective="pass@1"),
                           tags={t: tags[t] for t in heldout}, incumbent_round=incumbent)
            decision = dataclasses.replace(
                gated, promoted=promoted, reason=f"pass@1 {'improved' if promoted else 'did not improve'} "
                                                 f"({report.pass_at_1 - incumbent_pass1:+.4f})").to_dict()
            write_json(base / "gate" / "decision.json", decision)
            _manifest(base / "gate", "gate", k, {}, {"decision": "decision.json"}, decision, 0.0)
            if promoted:
                incumbent, incumbent_pass1 = k, report.pass_at_1
        else:
            incumbent_pass1 = report.pass_at_1
    write_rounds(run)
    start = datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc)
    write_json(run / "state.json", {"status": "succeeded", "round": rounds, "stage": "gate", "holder": None,
                                    "heartbeat": None, "started_at": start.isoformat(),
                                    "finished_at": (start + timedelta(minutes=5 * rounds)).isoformat(),
                                    "error": None, "parent_run": None, "resumed": 1})
    write_jsonl(run / "events.jsonl", [{"seq": 1, "time": start.isoformat(), "type": "RunStarted"},
                                       {"seq": 2, "time": (start + timedelta(minutes=5 * rounds)).isoformat(),
                                        "type": "RunFinished"}])
    return run
