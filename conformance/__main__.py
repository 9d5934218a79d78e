"""``python -m conformance`` is ``atconform``."""

from conformance.cli import main

raise SystemExit(main())
