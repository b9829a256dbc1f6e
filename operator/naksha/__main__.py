"""``python -m naksha``: the same entry point as the ``naksha`` command."""

from naksha.cli import main

raise SystemExit(main())
