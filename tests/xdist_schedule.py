"""How ``make test`` spreads the suite over pytest-xdist's workers (``-n auto --dist
loadgroup``; tests/conftest.py puts this scheduler in loadgroup's place).

A unit of work goes to one worker whole: a package whose conftest starts one stack for all its
tests, else one test module (its module-scoped fixtures: a loaded model, built media, a
server). So a stack or a model is set up once, as in a run in one process, and the chaos
scenarios run in file order on their one stack. The longest units are handed out first, so
that no worker is left alone with one at the end. (xdist's own loadgroup reads xdist_group
marks through a node id pytest 9 no longer lets it rewrite.)"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# Packages with a package-scoped stack (their conftest.py).
WHOLE_PACKAGES = ("tests/chaos/", "tests/security/", "tests/web/")
# Handed out in this order, the rest in collection order after them: the chaos suite alone
# takes minutes, then the security stack with its model jobs, the e2e stacks, the browser.
FIRST = ("tests/chaos/", "tests/security/", "tests/e2e/", "tests/web/")


def unit_of(nodeid: str) -> str:
    for package in WHOLE_PACKAGES:
        if nodeid.startswith(package):
            return package
    return nodeid.split("::", 1)[0]


def _rank(nodeid: str) -> int:
    return next((i for i, prefix in enumerate(FIRST) if nodeid.startswith(prefix)), len(FIRST))


class SharedFixtureScheduling(LoadScopeScheduling):
    def __init__(self, config, log=None) -> None:
        super().__init__(config, log)
        # Our order, not loadscope's (units with the most tests first).
        config.option.loadscopereorder = False
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node) -> None:
        # The units are ordered in the queue, never in the collections: a worker is sent the
        # indexes of its tests in its own collection, so a reordered collection made each
        # worker run other tests than the unit's (a stack started on two workers).
        if not self._ordered:
            for unit in sorted(self.workqueue, key=_rank):
                self.workqueue.move_to_end(unit)
            self._ordered = True
        super()._assign_work_unit(node)
