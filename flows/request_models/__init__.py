"""The request models of every catalog action, one module per action module.

Pydantic only: no Prefect, no provider SDK, nothing from tasks/ or blocks/, so the CLI
(`paved run` validates before it submits) and the gateway validate a request in a
fraction of a second. The action modules import their request from here and re-export
it; `flows.catalog` names each action's request module, and a test checks that the
request it resolves is the very class the action's flow takes, and that importing every
module here loads no Prefect.
"""
