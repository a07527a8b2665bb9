"""Signed outbound webhooks: ``WebhookClient(settings.webhooks, guard=OutboundGuard(settings.outbound))``."""
