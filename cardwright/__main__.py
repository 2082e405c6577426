"""``python -m cardwright``: the same as the ``cardwright`` console script."""

from cardwright.cli import main

main()
