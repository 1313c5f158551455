"""`python -m memmond` is the same program as the `memmond` console script."""

import sys

from memmond.cli.main import main

sys.exit(main())
