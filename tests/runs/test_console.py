"""What a user reads in a terminal or a log file: stage lines, the demo's log and its quiet vLLM."""

from __future__ import annotations

import logging
import os
import warnings

from codealign.runs.console import describe


def test_the_evaluate_line_gives_costs_in_a_unit_that_fits():
    line = describe("evaluate", {"pass@1": 0.6771, "secure_rate": 0.83, "mean_cost": 1.3266e-3, "cost_unit": "s"})
    assert line == "pass@1 0.677, secure rate 0.830, mean cost 1,326.6 µs"
    assert describe("evaluate", {"pass@1": None, "secure_rate": None, "mean_cost": None,
                                 "cost_unit": "s"}).endswith("secure rate n/a, mean cost n/a")
    assert describe("evaluate", {"skipped": "no preference pairs"}) == "no preference pairs"


def test_a_log_line_in_a_file_is_never_wrapped(capsys):
    from codealign.demo.run import stderr_log

    line = "round 1 · execute: " + "x" * 150 + " (32.4 s)"
    stderr_log("demo")(line)                      # stderr is not a terminal here (80 columns)
    assert capsys.readouterr().err == f"demo {line}\n"


def test_quiet_vllm_sets_and_restores_what_vllms_processes_read(monkeypatch):
    from codealign.demo.run import QUIET_ENV, quiet_vllm

    monkeypatch.setenv("TORCH_CPP_LOG_LEVEL", "INFO")          # a caller's own setting is kept
    for key in ("VLLM_LOGGING_LEVEL", "VLLM_LOGGING_STREAM", "PYTHONWARNINGS"):
        monkeypatch.delenv(key, raising=False)
    level = logging.getLogger("vllm").level
    notes: list[str] = []
    with quiet_vllm(notes.append):
        assert {k: os.environ[k] for k in QUIET_ENV} == QUIET_ENV | {"TORCH_CPP_LOG_LEVEL": "INFO"}
        assert logging.getLogger("vllm").getEffectiveLevel() == logging.ERROR
        assert any(action == "ignore" and category is FutureWarning and module.match("vllm.triton_utils")
                   for action, _, category, module, _ in warnings.filters if module is not None)
    assert not {"VLLM_LOGGING_LEVEL", "VLLM_LOGGING_STREAM", "PYTHONWARNINGS"} & set(os.environ)
    assert os.environ["TORCH_CPP_LOG_LEVEL"] == "INFO" and logging.getLogger("vllm").level == level
    assert not any(category is FutureWarning and module is not None and module.match("vllm.x")
                   for _, _, category, module, _ in warnings.filters)
    assert notes == ["vLLM's warnings are hidden; VLLM_LOGGING_LEVEL=WARNING shows them"]
