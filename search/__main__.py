"""``python -m search``: the same as the ``optsearch`` console script."""

import sys

from search.cli import main

if __name__ == "__main__":
    sys.exit(main())
