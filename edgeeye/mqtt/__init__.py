"""The broker: the publisher thread, the paho client, the connection, acknowledgements, outbox.

Owns the publisher thread that reads the workers' result pipes (``publisher``), paho-mqtt
clients as configured (``client``), what the connection's state means and the refusals no
retry can fix (``connection``), paho's socket served by the publisher thread with
reconnects by backoff (``network``), what the broker has acknowledged
(``acknowledgements``) and the on-disk outbox for results the broker cannot take yet
(``outbox``).  Runs in the main process: the publisher thread, and a short-lived connector
thread for each connection try.

May import: publish, homeassistant, pipeline (messages and the board only; the import
contracts forbid its processes), config, errors.  Never supervision or tools.
"""
