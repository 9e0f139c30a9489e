"""Commands around the appliance, not part of its run path: watch, forget, demo, a broker.

Owns ``edgeeye watch`` (every device on a broker, live), ``edgeeye forget`` (remove a
decommissioned device), ``edgeeye demo``, a private mosquitto on a free loopback port
(``local_broker``, for the demo, the bench and the tests) and the one launcher of
``edgeeye run`` as a child process (``launcher``).  Each runs in its own CLI process.

May import: mqtt, publish, homeassistant, config, errors.  Never supervision (a tool
starts the appliance as a process, never in-process).
"""
