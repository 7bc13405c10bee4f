"""Run a command and report its peak resident memory (it and its children), on stderr:
the last line is `peak_rss_kib=N`. ru_maxrss of children is a running maximum per process,
so each measured command needs a process of its own.

    python bench/peak.py COMMAND [ARGS...]
"""

import resource
import subprocess
import sys

code = subprocess.run(sys.argv[1:]).returncode
print(f"peak_rss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(code)
