"""The soak test: the whole system running for minutes under faults (issue 14).

``scripts/soak`` runs it (``python -m tests.soak``); ``tests/test_soak.py`` runs a
60-second version. :mod:`.harness` starts and watches every component, :mod:`.faults`
injects the faults of a seeded schedule, :mod:`.workers` are the load processes
(uploads, installer-like HTTP load, library clients, the fault-injecting mirror
front), and :mod:`.checks` turns what was recorded into the final table. How to run
it and what each figure means: docs/pypi-integration.md, "Soak test".
"""
