"""`census parse` never prints a traceback (issue 15): random bytes, and real-shaped files (the
intake corpus, CSV, XLSX and 834) with bytes flipped, cut or inserted, always get a JSON answer
with `ok` and, when refused, the errors."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.intake_corpus import corpus_files

SEEDS = [p.read_bytes() for p in corpus_files()] or [b"Employee ID,First Name\nE1,Ann\n"]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        else:
            del data[at:]
    return bytes(data)


def _parse(web_app, tmp: Path, data: bytes, name: str) -> dict:
    path = tmp / name
    path.write_bytes(data)
    result = web_app.test_cli_runner().invoke(args=["census", "parse", str(path), "--json"])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    answer = json.loads(result.output)
    assert isinstance(answer["ok"], bool)
    if not answer["ok"]:
        assert answer["errors"], answer
    return answer


@FUZZ
@given(data=st.binary(max_size=2048), name=st.sampled_from(["f.csv", "f.xlsx", "f.834", "f"]))
def test_random_bytes_get_a_json_answer(web_app, tmp_path, data, name):
    _parse(web_app, tmp_path, data, name)


@FUZZ
@given(data=mutated(), name=st.sampled_from(["f.csv", "f.xlsx", "f.834"]))
def test_mutated_real_shaped_files_get_a_json_answer(web_app, tmp_path, data, name):
    _parse(web_app, tmp_path, data, name)
