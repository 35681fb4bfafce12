"""``python -m wanbook`` is the ``wanbook`` command."""

import sys

from wanbook._cli import main

sys.exit(main())
