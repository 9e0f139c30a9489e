"""edgeeye: camera frames to MQTT classification results, one inference process per core."""

__version__ = "0.1.0"
