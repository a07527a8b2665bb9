"""Analytics over tickets, SLAs, chat, the knowledge base and workflows (docs/analytics.md).

    queries.sql   one statement per metric (plain SQL over the domain tables; no rollups yet)
    service.py    the metrics: periods, buckets, business-hours arithmetic (api/sla/calendar.py)
    models.py     the query parameters (validated) and the response envelope
    routes.py     GET /api/v1/analytics/{metric} and {metric}.csv, staff only
    export.py     each metric as one CSV table (formula cells neutralised)
    charts.py     the SVG geometry of the page's charts (line points, stacked-bar segments)
    pages.py      GET /console/analytics: the same numbers as server-drawn SVG charts with tables
"""
