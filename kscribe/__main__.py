import sys

from kscribe.cli import main

sys.exit(main())
