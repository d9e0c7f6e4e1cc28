"""Containment of tracking failures: training must never stop because tracking failed.

Every call the logger makes into the client after the run exists goes through :func:`contained`
(the integration kit's :class:`~neptune_scale.integrations.Containment`): a failure is logged on
``despina_lightning`` with its traceback and counted, never raised into the training loop. Tests
set ``CONTAINMENT.strict`` so that a contained failure still fails the test that caused it.
"""

from __future__ import annotations

import logging

from neptune_scale.integrations import Containment

__all__ = ["CONTAINMENT", "contained", "failures", "log"]

log = logging.getLogger("despina_lightning")

CONTAINMENT = Containment(log, strict_env="DESPINA_LIGHTNING_STRICT")
contained = CONTAINMENT.contained
#: How many tracking failures were contained, by what the logger was doing.
failures = CONTAINMENT.failures
