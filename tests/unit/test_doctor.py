"""``concviz doctor``: one JSON object with the machine's facts and a short measurement."""

from __future__ import annotations

import json

from concviz import doctor


def test_doctor_json_has_every_fact_and_measurement(capsys):
    assert doctor.doctor(as_json=True, budget_s=0.3) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("cores", "cores_usable", "python", "start_methods", "default_start_method",
                "switch_interval_ms", "terminal", "cpu_source", "measured", "warnings"):
        assert key in info, key
    assert info["cores"] >= 1
    assert {"version", "gil_enabled", "free_threaded_build"} <= set(info["python"])
    assert info["default_start_method"] in info["start_methods"]
    assert {"columns", "lines", "colors"} <= set(info["terminal"])
    m = info["measured"]
    assert 0.5 < m["probe_overhead_ratio"] < 1.5
    assert m["thread_start_ms"] > 0
    for method in ("fork", "forkserver", "spawn"):
        value = m[f"{method}_start_ms"]
        if method not in info["start_methods"]:
            assert value is None
        else:  # measured: a child of a method this platform offers reports within 30 s
            assert value is not None and value > 0, method


def test_doctor_text_report(capsys):
    assert doctor.doctor(as_json=False, budget_s=0.2) == 0
    out = capsys.readouterr().out
    for label in ("cores", "python", "start methods", "switch interval", "terminal",
                  "probe overhead", "thread start", "spawn start"):
        assert label in out


def test_colours_from_the_environment():
    assert doctor.colours({"COLORTERM": "truecolor", "TERM": "xterm"}) == "truecolor"
    assert doctor.colours({"TERM": "xterm-256color"}) == "256"
    assert doctor.colours({"TERM": "xterm"}) == "16"
    assert doctor.colours({"TERM": "dumb"}) == "none"
    assert doctor.colours({"NO_COLOR": "1", "COLORTERM": "truecolor"}) == "none"


def test_doctor_does_not_import_textual():
    import subprocess
    import sys

    code = "import sys, concviz.doctor; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
