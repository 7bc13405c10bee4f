"""Run a command and report its peak resident memory (it and its children) and the CPU time
it used, on stderr: the second-last line is `cpu_s=N` (user + system), the last
`peak_rss_kib=N`. ru_maxrss of children is a running maximum per process, so each measured
command needs a process of its own.

    python bench/peak.py COMMAND [ARGS...]
"""

import resource
import subprocess
import sys

code = subprocess.run(sys.argv[1:]).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"cpu_s={usage.ru_utime + usage.ru_stime:.3f}", file=sys.stderr)
print(f"peak_rss_kib={usage.ru_maxrss}", file=sys.stderr)
sys.exit(code)
