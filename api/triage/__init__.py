"""Triage: the pipeline that runs on ticket events (classify → route → SLA → alerts → later sync).

``pipeline`` runs the steps of each event once, in order; ``tasks`` are the worker's tasks.
"""
