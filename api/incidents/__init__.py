"""Me too: a chat report matched against open tickets and major incidents, the people affected, major incidents.

``affected`` (who is affected; read by the alert rules' ``affected`` recipients), ``matching`` (the decision,
under one advisory lock), ``service`` (declaring and withdrawing major incidents), ``routes``.
"""
