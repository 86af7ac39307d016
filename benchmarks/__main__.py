"""`python -m benchmarks {peers,serving} ...`: see benchmarks/cli.py."""

import sys

from benchmarks.cli import main

sys.exit(main())
