"""The DashScope task API: build and parse wire bodies, send with safe retries, pace creates, and
follow one task to its end.
"""
