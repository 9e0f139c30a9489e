"""Frames through shared memory: the ring, the capture process and the inference processes.

Owns the shared-memory segment helper (``segment``), the frame ring and its descriptor
hand-off (``ring``, ``frames``), the snapshot board workers write (``snapshot_board``),
the two child processes' entry functions (``capture.run_capture``,
``worker.run_worker``), what every child does first (``process_setup``) and the typed
messages a worker sends (``messages``).  ``capture`` runs in the ``edgeeye.capture``
process, ``worker`` in each ``edgeeye.worker:N``; the main process creates the ring and
the board and reads the messages.

May import: inference, sources, config, errors.  Never the MQTT side (mqtt, publish,
homeassistant): a worker does not know where its results go.
"""
