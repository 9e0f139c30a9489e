"""``edgeeye bench``: the pipeline against the hardware's limit and against simpler designs.

Every figure comes from one run on one model and the same synthetic frames:
``ceiling`` (bare interpreter rate), ``appliance`` (edgeeye through a real broker and a real
subscriber), ``baselines`` (the designs people write by hand), ``handoff`` (ring versus
pickling), and ``report`` (table, JSON, optional PNG).  ``runner`` puts them together.

Runs in the ``edgeeye bench`` CLI process, which starts the appliance as ``edgeeye run``
children (``tools.launcher``) and the baselines as its own threads and processes.

May import: everything but the CLI.  Nothing imports it but the CLI.
"""
