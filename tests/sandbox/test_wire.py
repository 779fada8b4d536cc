"""The zygote protocol has one definition: names live in zygote.py, the host parses each
response once, and every event the tester can record is a `Flag`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from codealign.errors import SandboxFault
from codealign.sandbox import zygote
from codealign.sandbox.execution import Flag
from codealign.sandbox.wire import parse_response
from codealign.sandbox.zygote import EVENTS, Event, RecordKey, ResponseKey

SANDBOX = Path(zygote.__file__).parent
HOST_MODULES = ["session.py", "runner.py", "perfinputs.py", "execution.py", "wire.py",
                "ray_executor.py", "plain.py"]


def test_every_event_the_zygote_can_record_is_a_flag():
    assert EVENTS and len(set(EVENTS)) == len(EVENTS)
    for event in EVENTS:
        assert Flag(event).value == event
        assert Flag.parse(Flag(event).text("detail")) is Flag(event)


def _appended_events(tree: ast.AST) -> list[ast.expr]:
    """Arguments of every ``<...events>.append(x)`` / ``record[RecordKey.EVENTS].append(x)``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "append" and node.args:
            target = ast.unparse(node.func.value)
            if target.endswith("events") or target.endswith("[RecordKey.EVENTS]"):
                out.append(node.args[0])
    return out


def test_the_zygote_records_events_only_by_their_constant():
    tree = ast.parse((SANDBOX / "zygote.py").read_text())
    appended = _appended_events(tree)
    assert len(appended) >= len(EVENTS)        # the scan found the places that record events
    for arg in appended:
        assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) \
            and arg.value.id == "Event" and arg.attr in vars(Event), ast.unparse(arg)
    # ... and every event is recorded somewhere
    assert {getattr(Event, a.attr) for a in appended} == set(EVENTS)


def _hyphenated_wire_names() -> set[str]:
    """Events and ops that no other word of the code base spells by chance."""
    names = set()
    for cls in (zygote.Event, zygote.Op, zygote.Reply):
        names |= {v for k, v in vars(cls).items() if k.isupper() and "-" in v}
    return names


@pytest.mark.parametrize("module", HOST_MODULES)
def test_host_modules_never_spell_a_wire_name(module):
    """A host module that spelled an event or an op itself could drift from the zygote."""
    tree = ast.parse((SANDBOX / module).read_text())
    spelled = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not spelled & _hyphenated_wire_names()


def _response(**changes):
    record = {RecordKey.COMPLETE: True, RecordKey.LOAD: {RecordKey.OK: True}, RecordKey.CALLS: [],
              RecordKey.SCRIPTS: [], RecordKey.EVENTS: []}
    response = {ResponseKey.FRAMES: [record], ResponseKey.TESTER: {"exit": 0},
                ResponseKey.TIMED_OUT: False, ResponseKey.PERF_TIMED_OUT: False,
                ResponseKey.WALL_S: 0.1, ResponseKey.STDOUT: "", ResponseKey.STDERR: "",
                ResponseKey.STDOUT_BYTES: 0, ResponseKey.STDERR_BYTES: 0}
    for key, value in changes.items():
        if key == "record":
            record.update(value)
        elif value is None:
            response.pop(key)
        else:
            response[key] = value
    return response


def test_a_response_is_parsed_into_typed_records():
    parsed = parse_response(_response(record={RecordKey.EVENTS: [Event.MEMORY, Event.MEMORY],
                                              RecordKey.CALLS: [{"value": {"t": [1, 2]}}, {"error": "boom"}]}))
    assert parsed.record.loaded and parsed.record.events == (Event.MEMORY,)
    assert parsed.record.calls[0].returned and parsed.record.calls[0].value == (1, 2)
    assert not parsed.record.calls[1].returned and parsed.record.calls[1].error == "boom"
    assert parsed.final is None and parsed.tester.exit == 0 and not parsed.stdout_truncated


@pytest.mark.parametrize("changes, names", [
    ({ResponseKey.TIMED_OUT: None}, "timed_out"),
    ({ResponseKey.WALL_S: "soon"}, "wall_s"),
    ({"record": {RecordKey.EVENTS: ["exit-at-lode"]}}, "exit-at-lode"),   # a typo is loud
    ({"record": {RecordKey.LOAD: {}}}, "ok"),
    ({ResponseKey.FRAMES: [{"nonsense": 1}]}, "unknown frame"),
    ({ResponseKey.FAULT: "it broke"}, "it broke"),
])
def test_a_malformed_response_is_a_fault_naming_what_is_wrong(changes, names):
    with pytest.raises(SandboxFault, match=names):
        parse_response(_response(**changes))
