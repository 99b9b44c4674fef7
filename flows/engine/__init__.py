"""The engine every action runs on: plan, then apply.

- `flows.engine.plan`: the plan is a value. An action's plan function maps its request
  (and what the registry holds) to `PlannedResource`s: provider, kind, policy name,
  desired settings and what each depends on. A dry run renders it; nothing is touched.
- `flows.engine.apply`: one engine applies any plan. It claims the action for the
  service, writes the whole plan ahead in one registry transaction, submits each
  resource's ensure task (named, retrying, one provider each) as soon as what it depends
  on exists, so independent resources are made at once, and writes the outcome
  (ownership, provider ids, dependencies, failures) in one transaction at the end.
- `flows.engine.action`: what actions on the engine share (region check, dry-run
  artifact, result summary); `flows.engine.cleanup`: after a failure, remove only what
  the run created, and journal it.

This package imports nothing from the rest of `flows` at import time, so any module
(registry_steps included) may build on it without a cycle.
"""
