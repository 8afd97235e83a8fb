"""Shared fixtures. The live-daemon harness lives in roster_client.testing so the
C client's live test (clients/c/tests) can use the very same fixtures."""

from __future__ import annotations

from roster_client.testing import roster, rosterd, seeded  # noqa: F401  (fixtures)

