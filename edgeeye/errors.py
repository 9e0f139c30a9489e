"""The exceptions edgeeye raises on purpose.

Modules raise these; only the CLI turns them into exit codes (see ``EXIT_CODES`` in
``edgeeye/cli.py`` and the README's table).  Each message is one line that names the
thing at fault: a config key path and line, a model file, a device.
"""


class EdgeeyeError(Exception):
    """Base of every error edgeeye reports to the user."""


class ConfigError(EdgeeyeError):
    """The configuration file or an environment override is invalid."""


class ModelError(EdgeeyeError):
    """A model or labels file cannot be used (unreadable, wrong shape, fails to run)."""


class SourceError(EdgeeyeError):
    """The frame source cannot be opened or fails while capturing."""


class BadFrameError(SourceError):
    """One frame cannot be used (a corrupt file, the wrong size or dtype); the source goes on.

    The capture process skips and counts it; a source that sends nothing but bad frames
    fails (see ``FrameSource.bad_frame_limit``).
    """


class ResourceError(EdgeeyeError):
    """The machine lacks a resource edgeeye needs (shared memory space, cores)."""


class ChildProcessFailed(EdgeeyeError):
    """A capture or inference process died and the appliance had to stop."""


class BrokerRefused(EdgeeyeError):
    """The MQTT broker refused us for good: bad credentials, not authorised."""


class BrokerUnreachable(EdgeeyeError):
    """A one-shot command (``edgeeye forget``) could not reach the broker in time."""


class DownloadError(EdgeeyeError):
    """A model download failed or its checksum did not match the manifest."""
