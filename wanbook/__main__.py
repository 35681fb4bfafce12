"""``python -m wanbook`` is the ``wanbook`` command."""

import sys

from wanbook._cli.main import main

sys.exit(main())
