"""Maintainability judge: radon's metrics through its Python API, in-process.

The value is radon's maintainability index (MI, 0-100, **higher is better**), computed
from one parse of the code; the details keep the figures it is built from and the other
radon views (cyclomatic complexity per block, Halstead, raw line counts) so that a
ranking decision can be explained.
"""

from __future__ import annotations

import ast

from codealign.judges.verdict import JudgeScore

__all__ = ["NAME", "judge_complexity"]

NAME = "maintainability"


def judge_complexity(code: str) -> JudgeScore:
    """Radon's view of `code`; value = maintainability index (higher is better).

    >>> s = judge_complexity("def f(x):\\n    return x + 1\\n")
    >>> s.status.value, s.value, s.details["cc_max"], s.details["sloc"]
    ('ok', 88.557, 1, 2)
    >>> judge_complexity("def f(:\\n").status.value
    'error'
    """
    from radon.complexity import cc_visit_ast
    from radon.metrics import h_visit_ast, mi_compute
    from radon.visitors import ComplexityVisitor
    from radon.raw import analyze

    try:
        tree = ast.parse(code)
        blocks = cc_visit_ast(tree)
        halstead = h_visit_ast(tree).total
        raw = analyze(code)
        complexities = [b.complexity for b in blocks] or [1]
        total_cc = ComplexityVisitor.from_ast(tree).total_complexity
        comment_pct = (raw.comments + raw.multi) / raw.sloc * 100 if raw.sloc else 0
        # The same formula and inputs as radon's mi_visit(code, multi=True), without
        # parsing the code twice more.
        mi = mi_compute(halstead.volume, total_cc, raw.lloc, comment_pct)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return JudgeScore.error(NAME, exc)
    return JudgeScore(NAME, round(mi, 3), details={
        "mi": round(mi, 3),
        "cc_max": max(complexities),
        "cc_mean": round(sum(complexities) / len(complexities), 3),
        "cc_blocks": [{"name": b.name, "line": b.lineno, "cc": b.complexity} for b in blocks],
        "halstead_volume": round(halstead.volume, 3),
        "halstead_difficulty": round(halstead.difficulty, 3),
        "halstead_effort": round(halstead.effort, 3),
        "loc": raw.loc, "lloc": raw.lloc, "sloc": raw.sloc,
        "comments": raw.comments, "multi": raw.multi, "blank": raw.blank,
    })
