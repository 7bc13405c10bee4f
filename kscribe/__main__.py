import sys

from kscribe.cli.main import main

sys.exit(main())
