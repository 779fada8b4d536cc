"""Wrong programs that pass HumanEval's tests: how many does `codealign exec` catch?

1. **The mutant set.** Every one-edit variant of every HumanEval canonical solution
   (`codealign.judges.mutants`, all of them, no cap), run in the sandbox against
   HumanEval's own tests (`codealign.judges.strength.measure_strength`); the ones the tests
   accept are kept: *base-passing*.
2. **The oracle, outside the project.** ENAMEL's ``input_generator`` (levels 0 and 1 of
   ``input_levels``, fixed seeds) makes inputs; the canonical solution's answer on each is
   compared with the mutant's by ENAMEL's ``checker``. A mutant is *wrong* when the checker
   rejects an answer, or the mutant raises or does not return (within 20x the canonical
   solution's time, at least 1 s) where the canonical one returns. The oracle runs in a
   separate subprocess per task with resource limits (address space, CPU time, an alarm
   per call), never in this process. Three helpers the generators call live in ENAMEL's
   package, not in its CSV (``rand_primality``, ``rand_probably_prime``, ``rand_parens``):
   this script supplies its own stand-ins (below, written here, not ENAMEL's code), and
   says which tasks needed them.
3. **What exec says.** The wrong-but-base-passing mutants go through
   ``python -m codealign exec humaneval`` (a subprocess: exactly what a user runs, with
   whatever checks exec applies by default, strengthening included once it lands): the
   share it does not pass is the share caught. Beside it, with the same command: HumanEval's
   canonical solutions (all must pass), MBPP's references (all must pass), and ENAMEL's
   expert solutions, correct programs written independently (wrongly failed must stay
   <= 1 of the 162 whose edge semantics match HumanEval's: /103 and /111 differ).
4. **Mutation scores** on this set with the oracle deciding equivalence: killed by the
   tests / (killed + wrong survivors), and the same counting exec's catches.

The mutant set with the oracle's verdicts is kept in ``benchmarks/data/humaneval-mutants.jsonl``
(small, committed; its first line holds the key of what it was built from: this script's
oracle, the mutation operators and `measure_strength`, the data files). A stale or missing
file is rebuilt.

    PYTHONPATH=. .venv/bin/python benchmarks/wrong_but_passing.py [--rebuild] [--workers 0]
        [--mbpp ../shared/data/mbpp/mbpp.jsonl] [--skip-mbpp]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENAMEL = Path(os.environ.get("CODEALIGN_ENAMEL", "/work/shared/data/enamel"))
MBPP = Path(os.environ.get("CODEALIGN_MBPP", "/work/shared/data/mbpp/mbpp.jsonl"))
DATA = ROOT / "benchmarks" / "data" / "humaneval-mutants.jsonl"
EDGE_SEMANTICS = ("HumanEval/103", "HumanEval/111")   # ENAMEL's experts differ there on purpose
LEVEL_CASES = ((0, 24), (1, 8))   # (ENAMEL level, cases per level)
VERSION = 2                       # of the data file's records

# Stand-ins for the three ENAMEL package helpers some generators call (our own code).
STAND_INS = r'''
def _is_prime(n):
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True

def rand_probably_prime(ub):
    n = random.randint(max(2, ub // 2), max(3, ub))
    while not _is_prime(n):
        n += 1
    return n

def rand_primality(size, lid, cid):
    size = max(size, 4)
    if lid == 0 and cid < 4:
        return [1, 2, 561, 7 * 7][cid]
    if cid % 3 == 0:
        return rand_probably_prime(size)
    if cid % 3 == 1:
        m = max(2, int(size ** 0.5))
        return rand_probably_prime(m) * rand_probably_prime(m)
    return random.randint(1, size)

def rand_parens(size, sep='', valid=True, par='()'):
    opening, closing = par
    groups, left = [], max(size, 2)
    while left > 0:
        n = random.randint(1, max(1, min(left // 2, 12)))
        text, depth, opened = '', 0, 0
        while opened < n or depth:
            if opened < n and (depth == 0 or random.random() < 0.5):
                text, depth, opened = text + opening, depth + 1, opened + 1
            else:
                text, depth = text + closing, depth - 1
        groups.append(text)
        left -= len(text)
    text = sep.join(groups)
    if not valid and text:
        i = random.randrange(len(text))
        flipped = closing if text[i] == opening else opening
        text = text[:i] + flipped + text[i + 1:]
    return text
'''

# The oracle: one task, run in its own resource-limited process. Reads a JSON job on stdin.
ORACLE = r'''
import copy, json, random, signal, string, math, itertools, collections, heapq, bisect, functools, re, sys, time
from copy import deepcopy
from typing import *
job = json.load(sys.stdin)

class Expired(BaseException):
    pass

def expire(*_):
    raise Expired

signal.signal(signal.SIGALRM, expire)

def limited(seconds, fn, *args):
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)   # re-fires: a bare except cannot keep it
    try:
        start = time.process_time()
        value = fn(*args)
        return value, time.process_time() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

def load(code, name):
    ns = {"__name__": "__oracle__"}
    exec(compile(code, name, "exec"), ns)
    return ns

ns = dict(globals())
exec(compile(job["stand_ins"], "stand_ins.py", "exec"), ns)
exec(compile(job["canonical"], "canonical.py", "exec"), ns)    # helpers the checker uses (poly)
exec(compile(job["generator"], "generator.py", "exec"), ns)
exec(compile(job["checker"], "checker.py", "exec"), ns)
check = ns["__check"]
canonical = load(job["canonical"], "canonical.py")[job["entry_point"]]
cases, errors = [], []
for lid, count in job["levels"]:
    for cid in range(count):
        random.seed("%s/%d/%d" % (job["task_id"], lid, cid))
        try:
            args = ns["generate_input"](job["sizes"][lid], lid, cid)
        except Exception as exc:
            errors.append("generator: %s: %s" % (type(exc).__name__, exc))
            continue
        if not isinstance(args, tuple):
            args = (args,)
        try:
            answer, spent = limited(job["canonical_limit_s"], canonical, *copy.deepcopy(args))
        except BaseException as exc:   # the canonical solution rejects or cannot do it: no case
            continue
        cases.append((args, answer, spent))
out = {"cases": len(cases), "generator_errors": errors[:3], "mutants": []}
for code in job["mutants"]:
    verdict = {"verdict": "agrees"}
    try:
        fn = load(code, "mutant.py")[job["entry_point"]]
    except BaseException as exc:
        verdict = {"verdict": "wrong", "why": "does not load: %s" % type(exc).__name__}
        fn = None
    for args, answer, spent in cases if fn else ():
        shown = repr(args)[:200]
        try:
            got, _ = limited(max(job["min_limit_s"], job["factor"] * spent), fn, *copy.deepcopy(args))
        except Expired:
            verdict = {"verdict": "wrong", "why": "did not return", "input": shown}
            break
        except BaseException as exc:
            verdict = {"verdict": "wrong", "why": "raised %s" % type(exc).__name__, "input": shown}
            break
        try:
            ok = bool(check(copy.deepcopy(args), answer, got))
        except BaseException as exc:
            ok = False
        if not ok:
            verdict = {"verdict": "wrong", "why": "checker rejects the answer", "input": shown,
                       "expected": repr(answer)[:200], "got": repr(got)[:200]}
            break
    out["mutants"].append(verdict)
print(json.dumps(out))
'''


def _limits() -> None:
    """For the oracle's process: 4 GiB of address space, 10 minutes of CPU, no core files."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (600, 600))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def oracle(row: dict, canonical: str, mutants: list[str], needs_stand_ins: bool) -> dict:
    """ENAMEL's verdict on each mutant of one task (see the module docstring)."""
    job = {"task_id": row["task_id"], "entry_point": row["entry_point"], "canonical": canonical,
           "generator": row["input_generator"], "checker": row["checker"],
           "stand_ins": STAND_INS if needs_stand_ins else "",
           "sizes": [int(s) for s in row["input_levels"].split()], "levels": LEVEL_CASES,
           "canonical_limit_s": 2.0, "min_limit_s": 1.0, "factor": 20.0, "mutants": mutants}
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", ORACLE], input=json.dumps(job),
                              capture_output=True, text=True, timeout=900, preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        return {"error": "oracle timed out"}
    if proc.returncode != 0:
        return {"error": f"oracle exited {proc.returncode}: {proc.stderr.strip()[-300:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _key(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for part in (str(VERSION), ORACLE, STAND_INS, repr(LEVEL_CASES),
                 (ROOT / "codealign" / "judges" / "mutants.py").read_text(),
                 (ROOT / "codealign" / "judges" / "strength.py").read_text()):
        h.update(part.encode())
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:24]


def build(tasks, rows, canonical, config) -> list[dict]:
    """The base-passing mutants of HumanEval with the oracle's verdict on each."""
    from codealign.judges.strength import measure_strength

    strengths = measure_strength(tasks, config, limit=10 ** 6, progress=True)
    by_task = {s.task_id: s for s in strengths}
    helpers = ("rand_primality", "rand_probably_prime", "rand_parens")
    work = []
    for i, task in enumerate(tasks):
        passing = [r for r in by_task[task.task_id].results if not r.killed]
        if passing:
            work.append((i, task, passing))

    def judge(item):
        i, task, passing = item
        stand_ins = any(h in rows[i]["input_generator"] for h in helpers)
        verdicts = oracle(rows[i], canonical[i], [r.mutant.code for r in passing], stand_ins)
        return task, passing, verdicts, stand_ins

    records = [{"key": None, "mutants_total": sum(s.mutants for s in strengths),
                "killed_by_tests": sum(s.killed for s in strengths)}]
    with ThreadPoolExecutor(max_workers=config.worker_count) as pool:
        for task, passing, verdicts, stand_ins in pool.map(judge, work):
            for k, r in enumerate(passing):
                v = verdicts["mutants"][k] if "mutants" in verdicts else {"verdict": "unavailable",
                                                                          "why": verdicts["error"]}
                records.append({"task_id": task.task_id, **r.mutant.to_dict(),
                                "oracle": v, "oracle_cases": verdicts.get("cases", 0),
                                "stand_ins": stand_ins,
                                # the project's own equivalence check (tests' arguments and
                                # short scaled-up ones, compared with the reference)
                                "agreement": None if r.disagrees_on is None
                                else [k.value for k in r.disagrees_on]})
    return records


def _difference(expected: str, got: str) -> str:
    """Where two reprs part, with a little context."""
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    lo = max(0, at - 15)
    return f"expected ...{expected[lo:at + 25]}, got ...{got[lo:at + 25]}"


def exec_cli(tasks_spec: str, samples: list[dict], workers: int, backend: str) -> list[dict]:
    """`python -m codealign exec` on these samples, as a user runs it; the executions."""
    with tempfile.TemporaryDirectory(prefix="codealign-wbp-") as tmp:
        path, out = Path(tmp) / "samples.jsonl", Path(tmp) / "executions.jsonl"
        path.write_text("".join(json.dumps(s) + "\n" for s in samples))
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-m", "codealign", "exec", tasks_spec, str(path),
                               "--out", str(out), "--workers", str(workers), "--backend", backend],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"codealign exec failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return [json.loads(line) for line in out.read_text().splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rebuild", action="store_true", help="rebuild the mutant set and oracle verdicts")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--backend", default="bwrap")
    ap.add_argument("--mbpp", type=Path, default=MBPP)
    ap.add_argument("--skip-mbpp", action="store_true", help="leave out the MBPP references check")
    args = ap.parse_args()

    from codealign.sandbox import SandboxConfig
    from codealign.tasks import load_tasks
    from codealign.tasks.loaders import _humaneval_path

    csv.field_size_limit(1 << 30)
    rows = list(csv.DictReader(open(ENAMEL / "dataset" / "enamel.csv", newline="")))
    canonical = [p[0] for p in json.loads((ENAMEL / "samples" / "humaneval-canonical.json").read_text())]
    experts = [p[0] for p in json.loads((ENAMEL / "samples" / "enamel-references.json").read_text())]
    tasks = load_tasks("humaneval")
    assert [t.task_id for t in tasks] == [r["task_id"] for r in rows], "HumanEval and ENAMEL rows differ"
    config = SandboxConfig(backend=args.backend, workers=args.workers)
    started = time.monotonic()

    key = _key([_humaneval_path(), ENAMEL / "dataset" / "enamel.csv",
                ENAMEL / "samples" / "humaneval-canonical.json"])
    records = None
    if DATA.exists() and not args.rebuild:
        lines = [json.loads(x) for x in DATA.read_text().splitlines()]
        if lines and lines[0].get("key") == key:
            records = lines
        else:
            print(f"{DATA.relative_to(ROOT)} is stale (built from other operators, oracle or data): rebuilding")
    if records is None:
        records = build(tasks, rows, canonical, config)
        records[0]["key"] = key
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    build_s = time.monotonic() - started
    head, mutants = records[0], records[1:]
    verdicts = Counter(m["oracle"]["verdict"] for m in mutants)
    wrong = [m for m in mutants if m["oracle"]["verdict"] == "wrong"]
    why = Counter(m["oracle"]["why"] for m in wrong)
    stand_in_tasks = sorted({m["task_id"] for m in mutants if m["stand_ins"]},
                            key=lambda t: int(t.split("/")[1]))

    # What `codealign exec` says about the wrong ones, the canonical and the expert solutions.
    samples = [{"task_id": m["task_id"], "sample_id": f"{m['task_id']}::mutant::{m['line']}:{m['col']}:{n}",
                "code": m["code"]} for n, m in enumerate(wrong)]
    caught = [e for e in exec_cli("humaneval", samples, args.workers, args.backend)
              if e["status"] != "passed"] if samples else []
    canon = exec_cli("humaneval", [{"task_id": t.task_id, "sample_id": f"{t.task_id}::canonical",
                                    "code": t.reference} for t in tasks], args.workers, args.backend)
    expert = exec_cli("humaneval", [{"task_id": t.task_id, "sample_id": f"{t.task_id}::expert",
                                     "code": experts[i]} for i, t in enumerate(tasks)],
                      args.workers, args.backend)
    expert_failed = [e["task_id"] for e in expert if e["status"] != "passed"
                     and e["task_id"] not in EDGE_SEMANTICS]
    mbpp = None
    if not args.skip_mbpp:
        mbpp_tasks = load_tasks(args.mbpp)
        mbpp = exec_cli(str(args.mbpp), [{"task_id": t.task_id, "sample_id": f"{t.task_id}::reference",
                                          "code": t.reference} for t in mbpp_tasks],
                        args.workers, args.backend)
    elapsed = time.monotonic() - started

    killed, n_wrong = head["killed_by_tests"], len(wrong)
    share = len(caught) / n_wrong if n_wrong else float("nan")
    print(f"\nHumanEval mutants: {head['mutants_total']} one-edit variants of the canonical "
          f"solutions; {killed} killed by HumanEval's tests; {len(mutants)} pass them")
    print(f"oracle (ENAMEL generators, levels {[lid for lid, _ in LEVEL_CASES]}, canonical answers, "
          f"ENAMEL checker, a subprocess per task): {dict(verdicts)}; wrong because {dict(why)}")
    print(f"  stand-in generator helpers used for {len(stand_in_tasks)} tasks: {', '.join(stand_in_tasks)}")
    print(f"wrong but base-passing: {n_wrong} programs on {len({m['task_id'] for m in wrong})} tasks")
    print(f"caught by `codealign exec humaneval`: {len(caught)}/{n_wrong} ({share:.1%})  (target >= 90% "
          f"once strengthening lands)")
    print(f"HumanEval canonical solutions passing: {sum(e['status'] == 'passed' for e in canon)}/{len(canon)}")
    if mbpp is not None:
        print(f"MBPP references passing: {sum(e['status'] == 'passed' for e in mbpp)}/{len(mbpp)}")
    print(f"ENAMEL expert solutions wrongly failed: {len(expert_failed)} of {len(expert) - len(EDGE_SEMANTICS)}"
          f" {expert_failed} (target <= 1); the two with other edge semantics "
          f"({', '.join(EDGE_SEMANTICS)}): "
          + ", ".join(f"{e['task_id']} {e['status']}" for e in expert if e["task_id"] in EDGE_SEMANTICS))
    known = killed + n_wrong
    print(f"mutation score against the oracle: tests alone {killed}/{known} = {killed / known:.3f}; "
          f"with exec's default checks (strengthening, once it lands) {killed + len(caught)}/{known} "
          f"= {(killed + len(caught)) / known:.3f}")
    print(f"time: mutant set and oracle {build_s:.0f}s ({'cached' if build_s < 5 else 'built'}), "
          f"total {elapsed:.0f}s")
    flagged = [m for m in wrong if m["agreement"]]
    false_alarms = [m for m in mutants if m["oracle"]["verdict"] == "agrees" and m["agreement"]]
    print(f"the project's equivalence check (the tests' arguments and short scaled-up ones, compared "
          f"with the reference; benchmarks/mutation_score.py) tells {len(flagged)} of the {n_wrong} "
          f"wrong ones from the reference, and {len(false_alarms)} of the "
          f"{verdicts['agrees']} the oracle finds right")
    for m in wrong[:: max(1, len(wrong) // 5)][:5]:
        o = m["oracle"]
        print(f"  e.g. {m['task_id']} {m['description']}: {o['why']} on {o.get('input', '')[:60]}"
              + (f" ({_difference(o['expected'], o['got'])})" if "expected" in o else ""))
    print(json.dumps({"benchmark": "wrong_but_passing", "mutants": head["mutants_total"],
                      "killed_by_tests": killed, "base_passing": len(mutants),
                      "oracle": dict(verdicts), "wrong_base_passing": n_wrong,
                      "wrong_tasks": len({m["task_id"] for m in wrong}),
                      "agreement_flags_wrong": len(flagged), "agreement_false_alarms": len(false_alarms),
                      "caught_by_exec": len(caught), "caught_share": round(share, 4),
                      "humaneval_canonical_pass": sum(e["status"] == "passed" for e in canon),
                      "mbpp_reference_pass": None if mbpp is None else sum(e["status"] == "passed" for e in mbpp),
                      "mbpp_references": None if mbpp is None else len(mbpp),
                      "enamel_expert_wrongly_failed": expert_failed,
                      "score_tests": round(killed / known, 4),
                      "score_exec": round((killed + len(caught)) / known, 4),
                      "stand_in_tasks": stand_in_tasks, "seconds": round(elapsed, 1)}))


if __name__ == "__main__":
    main()
