"""The chaos suite: the Procfile stack under its supervisor, one API tenant, and the table of
every scenario's outcome (printed at the end of the session and written to chaos-table.txt
under the suite's tmp dir). ``--chaos=full`` (``make chaos``) runs the full sizes; without it,
the reduced form that ``make test`` runs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.chaos.harness import RESULTS, ChaosEnv, render_table


@dataclass(frozen=True)
class Sizes:
    full: bool
    mutated: int  # mutated media files
    at_once: int  # the broker's deliveries in flight to each function (transcribe's one worker too)
    creations: int  # API creations in the backlog scenario (≥ 10 × what transcribe runs at once)
    load_window_s: float  # ... spread over this long
    outage_s: float  # the storage emulator stopped this long
    duplicates: int  # copies of one upload notification
    silence_s: int  # the "hours of silence" extreme


# Reduced: 12 mutated files are each of the 4 sources under each of the 3 mutations once; a
# backlog ten times deeper than 4 deliveries at once.
REDUCED = Sizes(
    False, mutated=12, at_once=4, creations=40, load_window_s=30, outage_s=5, duplicates=10, silence_s=10 * 60
)
FULL = Sizes(
    True, mutated=60, at_once=8, creations=200, load_window_s=30, outage_s=20, duplicates=10, silence_s=2 * 3600
)


def pytest_addoption(parser):
    parser.addoption(
        "--chaos",
        choices=("reduced", "full"),
        default="reduced",
        help="the chaos suite's sizes: reduced (CI) or full (make chaos)",
    )


@pytest.fixture(scope="package")
def sizes(request) -> Sizes:
    return FULL if request.config.getoption("--chaos") == "full" else REDUCED


@pytest.fixture(scope="package")
def chaos(tmp_path_factory, sizes) -> ChaosEnv:
    tmp = tmp_path_factory.mktemp("chaos")
    env = ChaosEnv.start(tmp, sizes)
    try:
        yield env
    finally:
        env.stop()
        (tmp / "chaos-table.txt").write_text(render_table(RESULTS))


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.section("chaos")
        terminalreporter.write(render_table(RESULTS))
