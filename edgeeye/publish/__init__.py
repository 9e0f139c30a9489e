"""What is published, decided and written: policy, documents, snapshots, remote control.

Owns the publish policy (``policy``: which results go out and which are changes), the
JSON documents (``payloads``, and ``stats``: the typed stats structure the publisher
writes and ``watch``/``demo`` read), snapshots from the board (``snapshots``) and live
settings from ``set/...`` commands (``remote_control``).  Runs in the main process, on the
publisher thread (and the snapshot encoder thread).

May import: pipeline (its messages and the snapshot board, never its processes),
inference, sources, config, errors.  Never mqtt, supervision or tools.
"""
