"""`python -m hedged.cli` runs the same entry point as the `hedged` script."""

import sys

from hedged.cli import main

sys.exit(main())
