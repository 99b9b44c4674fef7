"""The audits floor: Paved's own scheduled runs that compare the world with the registry:
`drift` (provider inventories against the registry, with `drift_rules` classifying each
difference) and `cost` (spend per team and service). They build on `flows.engine` and
draw charts with `flows.journal.charts`; they import no action.
"""
