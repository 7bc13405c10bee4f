"""make test's units of work: a stack's package whole, else a module; the longest first."""

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
