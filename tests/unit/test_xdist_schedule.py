"""make test's units of work: a stack's package whole, else a module; the longest first."""

import json
import subprocess
import sys
from pathlib import Path

from tests.xdist_schedule import _rank, unit_of


def test_a_stack_package_is_one_unit_and_any_other_test_goes_with_its_module():
    assert unit_of("tests/chaos/test_chaos.py::test_undisturbed") == "tests/chaos/"
    assert unit_of("tests/security/test_media.py::test_x[a::b]") == "tests/security/"
    assert unit_of("tests/web/test_web.py::test_page_files_are_packaged") == "tests/web/"
    assert unit_of("tests/unit/test_fbank.py::test_no_turns_no_features") == "tests/unit/test_fbank.py"
    assert unit_of("tests/e2e/test_api.py::test_x[body0-a::b]") == "tests/e2e/test_api.py"


def test_the_chaos_suite_is_handed_out_first_and_unit_tests_last():
    ids = ["tests/unit/test_a.py::t", "tests/web/test_web.py::t", "tests/chaos/test_chaos.py::t", "tests/e2e/x.py::t"]
    assert sorted(ids, key=_rank) == [ids[2], ids[3], ids[1], ids[0]]


def test_on_two_workers_each_unit_runs_whole_on_one_worker_and_the_first_units_start_first(tmp_path):
    """A tree whose collection order is not the hand-out order (a plain module first, then
    the chaos and security packages): every unit's tests run on one worker, and the chaos and
    security units are the first each worker runs."""
    schedule = Path(__file__).resolve().parents[1] / "xdist_schedule.py"
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('kscribe_xdist_schedule', {str(schedule)!r})\n"
        "schedule = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(schedule)\n\n"
        "def pytest_xdist_make_scheduler(config, log):\n"
        "    return schedule.SharedFixtureScheduling(config, log)\n"
    )
    ran = tmp_path / "ran.jsonl"

    def body(tests: int) -> str:
        return "import json, os\n\n" + "".join(
            f"def test_{i}(request):\n"
            f"    with open({str(ran)!r}, 'a') as f:\n"
            "        f.write(json.dumps([request.node.nodeid, os.environ['PYTEST_XDIST_WORKER']]) + '\\n')\n\n"
            for i in range(tests)
        )

    # Units of different sizes: a worker sent the wrong indexes would run parts of two.
    for module, tests in (
        ("tests/a_plain/test_first.py", 3),
        ("tests/chaos/test_c.py", 5),
        ("tests/security/test_s.py", 4),
        ("tests/z/test_z.py", 4),
    ):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text(body(tests))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [json.loads(line) for line in ran.read_text().splitlines()]
    assert len(runs) == 16
    workers_of: dict[str, set[str]] = {}
    for nodeid, worker in runs:
        workers_of.setdefault(unit_of(nodeid), set()).add(worker)
    assert all(len(w) == 1 for w in workers_of.values()), workers_of
    first_of = {}
    for nodeid, worker in runs:
        first_of.setdefault(worker, unit_of(nodeid))
    assert set(first_of.values()) == {"tests/chaos/", "tests/security/"}, first_of
