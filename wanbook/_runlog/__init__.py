"""The run log: SQLite storage with append-only migrations, the `Run` record, and read-only views
(DataFrame, exports).
"""
