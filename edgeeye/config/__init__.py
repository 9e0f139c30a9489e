"""The configuration: one YAML file validated into frozen, typed models.

Owns the section models (``sections``), loading and overrides (``app``: ``AppConfig``,
``load_config``), one-line error messages with the key path and YAML line
(``messages``), the files a config names outside itself (``files``: the state directory,
the broker's password and TLS files) and the model manifest (``manifest``).  Runs in
whichever process asks; every process gets (a copy of) the same ``AppConfig``.

May import: ``edgeeye.errors`` only.  Never any runtime code: the config describes the
appliance, it does not run it.
"""
