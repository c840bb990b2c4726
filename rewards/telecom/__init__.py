"""The telecom grader: mcq, numeric-with-units and label answers (``verity serve telecom``).

units.py (what each unit measures, conversions) -> extract.py (answer spans, quantities) ->
reference.py (the three reference kinds, validated) -> grade.py (one verdict per response, with
its reasons) -> service.py (the Verifier the gRPC host serves).
"""
