"""The GLPI connector: the legacy REST API client (client.py), the High-Level API client (hl_client.py,
hl_shapes.py), the field maps (mapping.py) and what the sync engine does with a GLPI server (connector.py).
docs/integrations/glpi.md."""
