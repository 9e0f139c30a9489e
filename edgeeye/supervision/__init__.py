"""The main process's control: start the children, watch them, restart them, stop in time.

Owns the supervisor's loop (``supervisor``), the worker pool and the capture keeper (each
keeps its kind of child process running), restart limits and backoff (``restarts``),
liveness and systemd's notify protocol (``liveness``), recorded signals (``signals``),
config reloads on SIGHUP (``reload``: the whole check, and which parts an edit touches)
and how a run ended (``outcome``).  Runs in the main process only.

May import: everything below it (mqtt, publish, homeassistant, pipeline, inference,
sources, config).  Nothing imports it but the CLI.
"""
