"""The closed loop: learn from failed conversations (docs/improving.md).

    proposals.py     failed turns -> clusters (kb_index.cluster_texts) -> proposals; the admin's decisions
    intents.py       the bot's intents and training examples; the nearest intent by an embedding kNN
    training.py      a temporary copy of the bot project + approved examples -> rasa train -> candidate
    evaluation.py    current vs candidate on the held-out eval sets through a temporary Rasa -> comparison table
    service.py       train -> measure -> promote only when not worse -> hot-load into the running Rasa
    served_hints.py  the api's intent hints follow the promoted model's examples (polled)
    bot_models.py    where models live, which one is current (read by the dev stack)
    serving.py       Rasa's model API (PUT /model, GET /status) and the temporary Rasa server
    tasks.py         the jobs (queue ``improve``): nightly clustering, training
"""
