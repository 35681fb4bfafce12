"""The ``wanbook`` command line."""
