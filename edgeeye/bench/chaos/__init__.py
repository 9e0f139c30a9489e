"""The chaos run: the real appliance, a real broker and real photographs, with faults
injected at random (seeded) intervals, and a ledger of every frame that must balance.

``python -m edgeeye.bench.chaos --seconds 180 --seed 7`` (or ``benchmarks/chaos.py``).
``proxy`` stands between the appliance and the broker (a half-open link, a slow one);
``ledger`` accounts for every sequence number; ``run`` injects and measures.
"""
