"""deskmate's Rasa project; ``bot.channel`` is its input channel (imported by ``rasa run`` via credentials.yml)."""
