"""The one orchestration path: settings -> validate -> estimate -> budget -> log (write-ahead) ->
create -> poll -> download -> log; sessions and batches.
"""
