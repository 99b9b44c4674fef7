"""The journal floor: flows over the registry's journal and outbox: `report` (requests
per week, with `charts`), `reconcile` (fills journal gaps from Prefect's API) and
`registry_events` (publishes the outbox to Kafka). They build on `flows.engine` only.
"""
