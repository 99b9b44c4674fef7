"""Imported by the fork server only: makes it the warm template (see `template.preload`)."""

from paved.worker import template

template.preload()
