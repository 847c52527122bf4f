"""``python -m brokerauth``: the ``brokerauth`` command line, run exactly as the script runs it."""

import sys

from brokerauth.cli import main

if __name__ == "__main__":
    sys.exit(main())
