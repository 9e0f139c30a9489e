"""Frame sources: the Raspberry Pi camera, still images, video, generated frames.

Owns what a frame is before it reaches the ring (``frame``: pixel layouts, the
``FrameSource`` interface, ``SourceSettings``) and the one table from a ``source:`` config
section to the settings of the class that reads it (``configured``).  Sources run in the
capture process, which is handed plain settings, never a config model; the main process
only builds a source to ask its frame size (no device is opened until ``open()``).

This package's ``__init__`` imports nothing: the capture and worker processes import
``edgeeye.sources.frame`` and must not pull in the config (pydantic, yaml) with it.

May import: ``edgeeye.config`` (``configured`` only) and ``edgeeye.errors``.  Never the
pipeline, inference, publishing or MQTT side.
"""
