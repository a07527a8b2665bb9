"""SAP Solution Manager incidents over SAP Gateway OData V2 (client.py; docs/integrations/solman.md)."""
