"""Home Assistant's MQTT discovery: each appliance appears as one device with its entities.

Owns the retained discovery configs and their removal (``discovery``).  Runs in the main
process (the publisher's connect callback) and in ``edgeeye forget``.

May import: config, errors.  Never the pipeline, mqtt or supervision.
"""
