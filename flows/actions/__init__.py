"""The actions floor: one module per self-serve action (its request model, its plan and
its @flow), named by what it does. Actions build on `flows.engine`; `service:create`
composes the create actions' plans. Nothing below this floor imports an action.
"""
