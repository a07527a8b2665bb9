"""Operations' view of the api: Prometheus metrics, the /metrics endpoint, and trace ids in the logs.

``metrics`` defines what is measured; ``middleware.Observe`` counts and times every request by route template and
carries the trace id; ``routes`` serves /metrics; ``tracing`` holds the W3C trace id of the request.
"""
