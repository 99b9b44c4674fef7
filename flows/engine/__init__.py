"""The engine floor: what every action, audit and journal flow runs on.

The floors of `flows` (tests/test_layers.py holds each to what it may import):

    flows.catalog    the actions and housekeeping flows by module name (imported on use)
    flows.actions    one module per self-serve action: request, plan, @flow -> engine
    flows.audits     drift and cost audits, Paved's own runs -> journal (charts), engine
    flows.journal    the registry journal's flows: report, reconcile, events -> engine
    flows.engine     this package: plan, apply and the plumbing they share -> nothing above

Plan and apply:

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
  the run created (`flows.engine.resource_removal` removes one resource), and journal it.

The plumbing, each module below the ones that use it:

- `session`: `registry_session()`, the registry named by the `paved-registry` block.
- `request`: `PavedRequest`, the base of every request model, and its redaction.
- `context`: `ServiceContext`, the existing service a day-2 action acts on.
- `notify_failure`: telling people (channels from the registry) and the failure notice.
- `runtime`: `journaled(...)`, the run's tags and journal rows; notifies on failure.
- `approval`: pausing a run for a person's approval.

This package's `__init__` imports nothing, so importing one engine module (the request
model, say) does not load Prefect's flow machinery with it.
"""
