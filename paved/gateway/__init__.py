"""The gateway: the one address people reach, in front of Prefect.

It signs people in with GitHub, proxies Prefect's UI and API (websockets included) with
Prefect's auth string, which only it and the workers hold, and decides from the registry
what each person may do (`paved.gateway.rules`). `python -m paved.gateway` runs it.
"""
