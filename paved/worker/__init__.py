"""The warm process worker (issue 10): flow runs forked from a process that has already
imported Prefect and the flows, instead of a new interpreter per run."""
