"""The C live test reuses the Python client's daemon harness (roster_client.testing)."""

from roster_client.testing import roster, rosterd, seeded  # noqa: F401  (fixtures)
